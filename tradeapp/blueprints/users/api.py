"""Auth API for the mobile apps: register, tokens (login, refresh, logout), password reset, me."""

from flask import current_app, request
from flask.views import MethodView
from flask_jwt_extended import decode_token, get_jwt

from tradeapp.blueprints.api import ApiBlueprint, api_user, token_required
from tradeapp.blueprints.referrals import links as referrals
from tradeapp.blueprints.users.schemas import (
    LoginSchema,
    MessageSchema,
    PasswordResetConfirmSchema,
    PasswordResetSchema,
    ProfileUpdateSchema,
    RefreshSchema,
    RegisteredSchema,
    RegisterSchema,
    TokenPairSchema,
    UserSchema,
)
from tradeapp.errors import AuthenticationFailed, ValidationFailed
from tradeapp.extensions import limiter
from tradeapp.services import tokens, users
from tradeapp.services.audit import client_ip
from tradeapp.services.backoffice import accounts

blp = ApiBlueprint("auth_api", __name__, url_prefix="/api/v1/auth", description="Accounts and tokens")

RESET_REQUESTED = "If an account uses this address, we have sent it a link to reset the password."


def _limit(config_key: str):
    """Rate-limit by the setting ``config_key``, read per request (tests change it)."""
    return limiter.limit(lambda: current_app.config[config_key])


def _user_agent() -> str:
    return request.headers.get("User-Agent", "")


@blp.route("/register/", methods=["POST"])
@_limit("SIGNUP_RATE_LIMIT")
@blp.arguments(RegisterSchema)
@blp.response(201, RegisteredSchema)
@blp.alt_response(400, description="Invalid input, taken email or username, weak password")
@blp.alt_response(429, description="Too many sign-ups from this address")
def register(data):
    """Create a customer account; a verification link is e-mailed."""
    try:
        user = users.register_user(
            email=data["email"],
            username=data["username"],
            password=data["password"],
            password_confirm=data["password_confirm"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            phone_number=data["phone_number"],
            referral_code=data["referred_by_code"],
            **referrals.signup_origin(),
        )
    except ValidationFailed as exc:
        if "referral_code" in exc.fields:
            exc.fields["referred_by_code"] = exc.fields.pop("referral_code")
        raise
    return {"user": user, "message": "User registered successfully"}


@blp.route("/login/", methods=["POST"])
@_limit("LOGIN_RATE_LIMIT")
@blp.arguments(LoginSchema)
@blp.response(200, TokenPairSchema)
@blp.alt_response(
    401,
    description="Wrong email or password (`authentication_failed`); staff or a customer with two-factor "
    "without a good code "
    "(`otp_required`, `otp_invalid`, `otp_not_enrolled`)",
)
@blp.alt_response(429, description="Locked after repeated failures (`account_locked`, see Retry-After) or rate-limited")
def login(data):
    """Exchange credentials for an access token (1 hour) and a refresh token (7 days).

    Staff accounts, and customers who turned two-factor on, must also send `otp`: the current
    code of their authenticator app (customers may send one of their recovery codes instead).
    A login from a new device or address is e-mailed to the customer.
    """
    pair = tokens.login(data["email"], data["password"], data["otp"], _user_agent(), client_ip())
    accounts.record_login(int(decode_token(pair["access"])["sub"]), "api", client_ip(), _user_agent())
    return pair


@blp.route("/refresh/", methods=["POST"])
@_limit("REFRESH_RATE_LIMIT")
@blp.arguments(RefreshSchema)
@blp.response(200, TokenPairSchema)
@blp.alt_response(401, description="Invalid, expired or already used refresh token (`token_not_valid`)")
@blp.alt_response(429, description="Rate-limited")
def refresh(data):
    """Rotate: a new pair for a refresh token, which stops working.

    Sending a refresh token that was already used revokes every token of that login.
    """
    claims = tokens.refresh_claims(data["refresh"])
    return tokens.rotate(claims, _user_agent())


@blp.route("/logout/", methods=["POST"])
@token_required()
@blp.arguments(RefreshSchema)
@blp.response(200, MessageSchema)
@blp.alt_response(400, description="The refresh token is invalid or not yours (`token_not_valid`)")
def logout(data):
    """Revoke the refresh token (and every token rotated from the same login) and this access token."""
    try:
        tokens.revoke(tokens.refresh_claims(data["refresh"]), api_user())
    except AuthenticationFailed as exc:
        # The caller is authenticated: a bad refresh token is bad input, not a failed login.
        raise ValidationFailed(exc.message, exc.fields, code=exc.code) from exc
    tokens.revoke_access(get_jwt())
    return {"message": "Logged out."}


@blp.route("/password-reset/", methods=["POST"])
@_limit("RESET_RATE_LIMIT")
@blp.arguments(PasswordResetSchema)
@blp.response(200, MessageSchema)
@blp.alt_response(429, description="Rate-limited")
def password_reset(data):
    """E-mail a reset link and token; the answer is the same whether or not the address is known."""
    users.request_password_reset(data["email"])
    return {"message": RESET_REQUESTED}


@blp.route("/password-reset-confirm/", methods=["POST"])
@_limit("RESET_RATE_LIMIT")
@blp.arguments(PasswordResetConfirmSchema)
@blp.response(200, MessageSchema)
@blp.alt_response(400, description="Invalid or expired token (`token_invalid`, `token_expired`), weak password")
@blp.alt_response(429, description="Rate-limited")
def password_reset_confirm(data):
    """Set a new password with the token from the e-mail; every session is signed out."""
    users.reset_password(data["token"], data["password"], data["password_confirm"])
    return {"message": "Your password has been reset. You can log in now."}


@blp.route("/me/")
class Me(MethodView):
    @token_required()
    @blp.response(200, UserSchema)
    def get(self):
        """The current user."""
        return api_user()

    @token_required()
    @blp.arguments(ProfileUpdateSchema)
    @blp.response(200, UserSchema)
    @blp.alt_response(400, description="Invalid input, taken email or username")
    def patch(self, data):
        """Change the profile; `id`, `is_verified`, `kyc_status`, `referral_code` and `created_at` are read-only:
        sent back, they are ignored (as are unknown fields), so a client may PATCH the whole object.

        A new e-mail address must be verified again.
        """
        return users.update_profile(api_user(), data)
