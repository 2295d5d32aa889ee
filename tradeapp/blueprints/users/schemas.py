"""Marshmallow schemas of the auth API: shapes only; the services check the rules."""

import marshmallow as ma
from marshmallow import fields, validate

#: long enough for any real password, short enough that hashing it is cheap
PASSWORD_MAX = 1024


class UserSchema(ma.Schema):
    """The seed's UserSerializer."""

    id = fields.Integer(dump_only=True)
    email = fields.Email()
    username = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    phone_number = fields.String()
    is_verified = fields.Boolean(dump_only=True, metadata={"description": "Identity verified (KYC approved)."})
    kyc_status = fields.String(dump_only=True, metadata={"enum": ["not_submitted", "pending", "approved", "rejected"]})
    referral_code = fields.String(dump_only=True, metadata={"description": "Share it to refer friends."})
    created_at = fields.DateTime(dump_only=True, metadata={"description": "ISO 8601, UTC."})


def _password(**kwargs) -> fields.String:
    return fields.String(required=True, load_only=True, validate=validate.Length(max=PASSWORD_MAX), **kwargs)


class RegisterSchema(ma.Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    username = fields.String(required=True, metadata={"description": "3-150 letters, digits and @/./+/-/_ characters."})
    password = _password(metadata={"description": "At least 10 characters, not common, not like your details."})
    password_confirm = _password()
    first_name = fields.String(load_default="", allow_none=True)
    last_name = fields.String(load_default="", allow_none=True)
    phone_number = fields.String(load_default="", allow_none=True)
    referred_by_code = fields.String(
        load_default="", allow_none=True, metadata={"description": "The referral code of the friend who invited you."}
    )

    @ma.post_load
    def blanks(self, data, **kwargs):
        return {key: "" if value is None else value for key, value in data.items()}


class RegisteredSchema(ma.Schema):
    user = fields.Nested(UserSchema, required=True)
    message = fields.String(required=True, metadata={"example": "User registered successfully"})


class LoginSchema(ma.Schema):
    email = fields.String(required=True, validate=validate.Length(max=254))
    password = _password()
    otp = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=20),
        metadata={
            "description": "Staff, and customers with two-factor on: the 6-digit code from the authenticator "
            "app (customers may send a recovery code instead)."
        },
    )


class TokenPairSchema(ma.Schema):
    access = fields.String(required=True, metadata={"description": "Access JWT, valid 1 hour: send as Bearer."})
    refresh = fields.String(required=True, metadata={"description": "Refresh JWT, valid 7 days, good for one use."})


class RefreshSchema(ma.Schema):
    refresh = fields.String(required=True, validate=validate.Length(max=4096))


class MessageSchema(ma.Schema):
    message = fields.String(required=True)


class PasswordResetSchema(ma.Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))


class PasswordResetConfirmSchema(ma.Schema):
    token = fields.String(
        required=True, validate=validate.Length(max=1024), metadata={"description": "From the e-mail."}
    )
    password = _password()
    password_confirm = _password()


class ProfileUpdateSchema(ma.Schema):
    """The fields a user may change; read-only and unknown ones are ignored (as DRF does) and never change."""

    email = fields.Email(validate=validate.Length(max=254))
    username = fields.String()
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    phone_number = fields.String(allow_none=True)

    @ma.post_load
    def blanks(self, data, **kwargs):
        return {key: "" if value is None else value for key, value in data.items()}
