"""Account security API: settings, signed-in devices (list, revoke one or all), the withdrawal address book."""

from flask import abort
from flask.views import MethodView
from flask_jwt_extended import get_jwt

from tradeapp.blueprints.api import (
    ApiBlueprint,
    PageArgsSchema,
    api_user,
    id_parameter,
    page_schema,
    paginate,
    token_required,
)
from tradeapp.errors import NotFound, ValidationFailed
from tradeapp.services.account_security import addresses, sessions, settings, twofactor

from .schemas import (
    AddressSchema,
    OtpSchema,
    RecoveryCodesSchema,
    RevokedSchema,
    SecuritySchema,
    SessionSchema,
    TwoFactorSetupSchema,
)

security_blp = ApiBlueprint(
    "security_api", __name__, url_prefix="/api/v1/security", description="Account security settings"
)
sessions_blp = ApiBlueprint("sessions_api", __name__, url_prefix="/api/v1/sessions", description="Signed-in devices")
addresses_blp = ApiBlueprint(
    "withdrawal_addresses_api",
    __name__,
    url_prefix="/api/v1/withdrawal-addresses",
    description="Withdrawal address book",
)

SESSION_ID = id_parameter("session_id", "The session's id.")
ADDRESS_ID = id_parameter("address_id", "The address's id.")


def _security(user) -> dict:
    current = settings.of(user.id)
    enabled = twofactor.two_factor_enabled(user)
    return {
        "two_factor_enabled": enabled,
        "recovery_codes_left": twofactor.recovery_codes_left(user) if enabled else 0,
        "withdrawal_confirmation": current.withdrawal_confirmation,
        "whitelist_only": current.whitelist_only,
        "anti_phishing_phrase": current.anti_phishing_phrase,
    }


@security_blp.route("/")
class Security(MethodView):
    @token_required()
    @security_blp.response(200, SecuritySchema)
    def get(self):
        """Your security settings and whether two-factor is on (turn it on with `POST two-factor/`)."""
        return _security(api_user())

    @token_required()
    @security_blp.arguments(SecuritySchema)
    @security_blp.response(200, SecuritySchema)
    @security_blp.alt_response(
        400,
        description="Invalid value, confirmation off without two-factor (`validation_error`), "
        "missing or wrong code (`otp_required`, `otp_invalid`)",
    )
    def patch(self, data):
        """Change settings; with two-factor on, send `otp` (a fresh code). Omitted fields stay."""
        user = api_user()
        changes = {k: data.get(k) for k in ("withdrawal_confirmation", "whitelist_only", "anti_phishing_phrase")}
        changes = {k: v for k, v in changes.items() if v is not None}
        current = settings.of(user.id)
        if any(getattr(current, k) != v for k, v in changes.items()):
            # validate before a code is spent, then check the code
            if twofactor.two_factor_enabled(user):
                settings_errors_first(user, changes)
                twofactor.verify(user, data.get("otp"))
            settings.update(user, changes, fresh_code_checked=True)
        return _security(user)


@security_blp.route("/two-factor/", methods=["POST"])
@token_required()
@security_blp.response(200, TwoFactorSetupSchema)
@security_blp.alt_response(400, description="Already on (`already_enabled`)")
@security_blp.alt_response(403, description="Staff set up two-factor in the staff console (`staff_account`)")
def two_factor_start():
    """Start turning two-factor on: add the answer's account to an authenticator app, then confirm.

    Calling it again before confirming answers the same secret.
    """
    user = api_user()
    secret = twofactor.start_enrolment(user)
    return {"secret": secret, "otpauth_url": twofactor.provisioning_uri(user)}


@security_blp.route("/two-factor/confirm/", methods=["POST"])
@token_required()
@security_blp.arguments(OtpSchema)
@security_blp.response(200, RecoveryCodesSchema)
@security_blp.alt_response(
    400, description="Wrong code (`otp_invalid`), not started (`not_started`) or already on (`already_enabled`)"
)
@security_blp.alt_response(429, description="Too many wrong codes (`account_locked`)")
def two_factor_confirm(data):
    """Turn two-factor on with a first code; the answer's recovery codes are shown once.

    Every other device is signed out (this login stays).
    """
    codes = twofactor.confirm_enrolment(api_user(), data["otp"], keep_session=_current_family())
    return {"recovery_codes": codes}


@security_blp.route("/two-factor/disable/", methods=["POST"])
@token_required()
@security_blp.arguments(OtpSchema)
@security_blp.response(200, SecuritySchema)
@security_blp.alt_response(400, description="Not on (`not_enabled`) or wrong code (`otp_invalid`)")
@security_blp.alt_response(429, description="Too many wrong codes (`account_locked`)")
def two_factor_disable(data):
    """Turn two-factor off with a current code or a recovery code; every other device is signed out."""
    user = api_user()
    twofactor.disable(user, data["otp"], keep_session=_current_family())
    return _security(user)


@security_blp.route("/two-factor/recovery-codes/", methods=["POST"])
@token_required()
@security_blp.arguments(OtpSchema)
@security_blp.response(200, RecoveryCodesSchema)
@security_blp.alt_response(400, description="Not on (`not_enabled`) or wrong code (`otp_invalid`)")
def two_factor_recovery_codes(data):
    """New recovery codes (the old ones stop working), with a current code of the app."""
    return {"recovery_codes": twofactor.regenerate_codes(api_user(), data["otp"])}


def settings_errors_first(user, changes: dict) -> None:
    """Refuse bad values before spending the customer's code on them."""
    phrase = changes.get("anti_phishing_phrase")
    if phrase and (len(" ".join(phrase.split())) < 4 or any(c in phrase for c in "<>\"'`")):
        raise ValidationFailed(
            "Please correct the errors below.",
            {"anti_phishing_phrase": ["Use 4 to 64 letters, digits, spaces or punctuation (no < > quotes)."]},
        )


def _current_family() -> str | None:
    return get_jwt().get("fam")


@sessions_blp.route("/", methods=["GET"])
@token_required()
@sessions_blp.response(200, page_schema(SessionSchema))
def sessions_listing():
    """Your signed-in devices: web sessions and API logins, with device, IP, first and last seen.

    The list's shape is the other lists' (`count`, `next`, `previous`, `results`), on one page.
    """
    family = _current_family()
    rows = sessions.active(api_user())
    for row in rows:
        row.is_current = row.sid == family
    return {"count": len(rows), "next": None, "previous": None, "results": rows}


def _revoke(session_id: int):
    try:
        row = sessions.revoke(api_user(), session_id)
    except NotFound:
        abort(404)
    row.is_current = row.sid == _current_family()
    return row


@sessions_blp.route("/<int:session_id>/revoke/", methods=["POST"])
@token_required()
@sessions_blp.doc(parameters=[SESSION_ID])
@sessions_blp.response(200, SessionSchema)
@sessions_blp.alt_response(404, description="No such session of yours")
def session_revoke(session_id):
    """Sign one device out: a web session ends at its next request; an API login's tokens stop working."""
    return _revoke(session_id)


@sessions_blp.route("/<int:session_id>/", methods=["DELETE"])
@token_required()
@sessions_blp.doc(parameters=[SESSION_ID])
@sessions_blp.response(204)
@sessions_blp.alt_response(404, description="No such session of yours")
def session_delete(session_id):
    """The same as `POST …/{id}/revoke/`."""
    _revoke(session_id)


@sessions_blp.route("/revoke-all/", methods=["POST"])
@token_required()
@sessions_blp.response(200, RevokedSchema)
def sessions_revoke_all():
    """Sign every other device out (this login stays)."""
    return {"revoked": sessions.revoke_all(api_user(), _current_family())}


@addresses_blp.route("/")
class Addresses(MethodView):
    @token_required()
    @addresses_blp.arguments(PageArgsSchema, location="query")
    @addresses_blp.response(200, page_schema(AddressSchema))
    def get(self, args):
        """Your saved withdrawal addresses (revoked ones included), newest first."""
        return paginate(addresses.for_user(api_user(), include_revoked=True))

    @token_required()
    @addresses_blp.arguments(AddressSchema)
    @addresses_blp.response(201, AddressSchema)
    @addresses_blp.alt_response(
        400,
        description="Invalid destination (`validation_error`), already saved (`duplicate_address`), "
        "missing or wrong code (`otp_required`, `otp_invalid`)",
    )
    def post(self, data):
        """Save a destination. It can be used after the cooling-off period (24 hours by default), and you
        are e-mailed at once with a link that revokes it. With two-factor on, send `otp`."""
        return addresses.add(api_user(), data, data.get("otp"))


def _own(address_id: int):
    try:
        return addresses.get_own(api_user(), address_id)
    except NotFound:
        abort(404)


@addresses_blp.route("/<int:address_id>/", methods=["GET"])
@token_required()
@addresses_blp.doc(parameters=[ADDRESS_ID])
@addresses_blp.response(200, AddressSchema)
@addresses_blp.alt_response(404, description="No such address of yours")
def address_detail(address_id):
    """One of your saved addresses."""
    return _own(address_id)


@addresses_blp.route("/<int:address_id>/", methods=["DELETE"])
@token_required()
@addresses_blp.doc(parameters=[ADDRESS_ID])
@addresses_blp.response(204)
@addresses_blp.alt_response(404, description="No such address of yours")
def address_delete(address_id):
    """Remove an address from the book (kept in the list as revoked)."""
    _own(address_id)
    addresses.revoke(api_user(), address_id)
