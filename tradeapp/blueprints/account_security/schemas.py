"""Marshmallow schemas of the account security API: shapes only; the services check the rules."""

import marshmallow as ma
from marshmallow import fields, validate

from tradeapp.models.funds import DESTINATION_TYPES
from tradeapp.services.account_security import addresses, sessions

OTP = {
    "description": "With two-factor on: the current code of the authenticator app (or a recovery code); "
    "every security change needs a fresh one."
}


class SecuritySchema(ma.Schema):
    """Your security settings and two-factor state."""

    two_factor_enabled = fields.Boolean(dump_only=True)
    recovery_codes_left = fields.Integer(dump_only=True)
    withdrawal_confirmation = fields.Boolean(
        allow_none=True, metadata={"description": "Withdrawals wait for an e-mailed link (off only with two-factor)."}
    )
    whitelist_only = fields.Boolean(
        allow_none=True, metadata={"description": "Withdrawals only to addresses in the book."}
    )
    anti_phishing_phrase = fields.String(
        allow_none=True, validate=validate.Length(max=64), metadata={"description": "Shown first in every e-mail."}
    )
    otp = fields.String(
        load_only=True, load_default=None, allow_none=True, validate=validate.Length(max=20), metadata=OTP
    )

    class Meta:
        unknown = ma.EXCLUDE


class TwoFactorSetupSchema(ma.Schema):
    """What an authenticator app needs: the secret, or the ``otpauth://`` link that carries it."""

    secret = fields.String(required=True, metadata={"description": "Base32 secret, to type in by hand."})
    otpauth_url = fields.String(
        required=True, metadata={"description": "Open it (or show it as a QR code) to add the account to the app."}
    )


class OtpSchema(ma.Schema):
    otp = fields.String(
        required=True,
        validate=validate.Length(min=6, max=20),
        metadata={"description": "A current code of the authenticator app (a recovery code also turns it off)."},
    )

    class Meta:
        unknown = ma.EXCLUDE


class RecoveryCodesSchema(ma.Schema):
    recovery_codes = fields.List(
        fields.String(), required=True, metadata={"description": "Shown once: each signs in one time without the app."}
    )


class SessionSchema(ma.Schema):
    """A signed-in device: a web session or an API login."""

    id = fields.Integer(dump_only=True)
    kind = fields.String(dump_only=True, metadata={"enum": ["web", "api"]})
    device = fields.Function(lambda s: sessions.describe(s.user_agent), dump_only=True)
    user_agent = fields.String(dump_only=True)
    ip = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True, metadata={"description": "First seen."})
    last_seen_at = fields.DateTime(dump_only=True)
    current = fields.Boolean(
        attribute="is_current", dump_only=True, metadata={"description": "The login making this request."}
    )


class RevokedSchema(ma.Schema):
    revoked = fields.Integer(required=True, metadata={"description": "How many sessions ended."})


class AddressSchema(ma.Schema):
    """A saved withdrawal destination; usable once ``usable_from`` has passed."""

    id = fields.Integer(dump_only=True)
    label = fields.String(required=True, validate=validate.Length(min=1, max=80))
    currency = fields.String(required=True, validate=validate.Length(max=10))
    destination_type = fields.String(required=True, metadata={"enum": list(DESTINATION_TYPES)})
    destination_details = fields.Dict(
        required=True,
        metadata={
            "description": "bank_account: `iban`, `account_holder`; crypto_wallet: `address`, `network`.",
            "example": {"iban": "GB82WEST12345698765432", "account_holder": "Alice Liddell"},
        },
    )
    description = fields.Function(lambda a: addresses.describe(a), dump_only=True)
    status = fields.String(dump_only=True, metadata={"enum": ["cooling_off", "active", "revoked"]})
    created_at = fields.DateTime(dump_only=True)
    usable_from = fields.DateTime(dump_only=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)
    otp = fields.String(
        load_only=True, load_default=None, allow_none=True, validate=validate.Length(max=20), metadata=OTP
    )

    class Meta:
        unknown = ma.EXCLUDE
