"""Optional two-factor for customers: TOTP (the staff checker, with its replay guard) and ten
one-time recovery codes, stored as hashes and shown once.

Once enabled, the web and API logins ask for a code, and so do withdrawals and changes to
security settings (a *fresh* code: a code is accepted once, so each action needs the current one).
Wrong codes count towards the same lockout as wrong passwords, so codes cannot be guessed faster.
"""

import hashlib
import secrets

from sqlalchemy import delete, select, update

from tradeapp.errors import AuthenticationFailed, PermissionDenied, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import RecoveryCode, User
from tradeapp.models.types import utcnow
from tradeapp.permissions import has_permission
from tradeapp.services import audit, notifications, staff, users
from tradeapp.services.account_security import RESET_2FA, SECURITY_CHANGED
from tradeapp.services.account_security.settings import CODE_REQUIRED, code_required, two_factor_enabled
from tradeapp.services.uow import unit_of_work

RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud and typed by hand
CODE_INVALID = "That code is not valid, or was already used."

__all__ = ["CODE_REQUIRED", "code_required", "two_factor_enabled"]


def _hash(code: str) -> str:
    return hashlib.sha256(_normalise(code).encode()).hexdigest()


def _normalise(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def _new_codes(user: User) -> list[str]:
    """Ten new recovery codes (the old ones stop working); the caller's transaction stores their hashes."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash(c)) for c in codes)
    return codes


def recovery_codes_left(user: User) -> int:
    return len(
        db.session.scalars(
            select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        ).all()
    )


# -- enrolment -----------------------------------------------------------------------------------


def start_enrolment(user: User) -> str:
    """The secret to scan (kept until confirmed, so a reload shows the same QR code)."""
    if user.is_staff:
        raise PermissionDenied("Staff accounts set up two-factor in the staff console.", code="staff_account")
    if two_factor_enabled(user):
        raise ValidationFailed("Two-factor authentication is already on.", code="already_enabled")
    return staff.enrolment_secret(user)


def qr_svg(user: User) -> str:
    return staff.qr_svg(user)


def provisioning_uri(user: User) -> str:
    """The ``otpauth://`` link an authenticator app adds the account from (what the QR code encodes)."""
    return staff.provisioning_uri(user)


def confirm_enrolment(user: User, code: str, *, keep_session: str | None = None) -> list[str]:
    """Turn two-factor on with a first good code; returns the recovery codes (shown once).

    Other sessions are signed out: whoever else was signed in now needs the second factor.
    """
    from tradeapp.services.account_security import sessions  # noqa: PLC0415 - sessions imports this module

    if user.is_staff:
        raise PermissionDenied("Staff accounts set up two-factor in the staff console.", code="staff_account")
    if two_factor_enabled(user):
        raise ValidationFailed("Two-factor authentication is already on.", code="already_enabled")
    if not user.totp_secret:
        raise ValidationFailed("Start the set-up first.", {"otp": ["Start the set-up first."]}, code="not_started")
    _throttled_check(user, lambda: staff.accept_code(user, code))
    with unit_of_work():
        user.totp_confirmed_at = utcnow()
        codes = _new_codes(user)
        audit.record(user, "security.2fa_enabled", user)
        notifications.notify(
            user.id,
            SECURITY_CHANGED,
            "Two-factor authentication is on",
            "Signing in, withdrawals and security changes now need a code from your authenticator app.",
            link="/account/security",
        )
        sessions.revoke_others(user, keep_session)
    return codes


# -- checking codes ------------------------------------------------------------------------------


def _throttled_check(user: User, accept) -> None:
    key = users.failure_key(f"otp:{user.email}")
    users.check_not_locked(key)
    if not accept():
        db.session.rollback()
        users.record_failure(key)
        raise ValidationFailed(CODE_INVALID, {"otp": [CODE_INVALID]}, code="otp_invalid")
    users.clear_failures(key)


def _accept_recovery(user: User, code: str) -> bool:
    """Spend a recovery code: one UPDATE that only a still-unused code matches, so two uses race to one."""
    if len(_normalise(code)) != 10:
        return False
    result = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def verify(user: User, code: str | None, *, allow_recovery: bool = True) -> str:
    """Check a fresh code of a user with two-factor on; commits its use (a replay then fails).

    Returns ``"totp"`` or ``"recovery"``.

    :raise ValidationFailed: ``otp_required`` (no code), ``otp_invalid`` (wrong, used or replayed)
    :raise AccountLocked: after repeated wrong codes
    """
    if not (code or "").strip():
        raise code_required()
    used = {"how": "totp"}

    def accept() -> bool:
        if staff.accept_code(user, code):
            return True
        if allow_recovery and _accept_recovery(user, code):
            used["how"] = "recovery"
            return True
        return False

    _throttled_check(user, accept)
    if used["how"] == "recovery":
        audit.record(user, "security.recovery_code_used", user, after={"left": recovery_codes_left(user)})
    db.session.commit()
    return used["how"]


def verify_login(user: User, code: str | None) -> None:
    """The second factor of an API login: the staff errors' shape (401 ``otp_required``/``otp_invalid``)."""
    if not (code or "").strip():
        raise AuthenticationFailed(
            "This account has two-factor authentication: send `otp`, the current code (or a recovery code).",
            {"otp": ["This field is required for accounts with two-factor authentication."]},
            code="otp_required",
        )
    try:
        verify(user, code)
    except ValidationFailed as exc:
        raise AuthenticationFailed(exc.message, exc.fields, code=exc.code) from None


def require_fresh_code(user: User, code: str | None) -> None:
    """Withdrawals and security changes: with two-factor on, a fresh code is needed."""
    if two_factor_enabled(user):
        verify(user, code)


# -- turning it off, new codes, staff reset --------------------------------------------------------


def disable(user: User, code: str, *, keep_session: str | None = None) -> None:
    """Turn two-factor off with a current code or a recovery code; other sessions are signed out."""
    from tradeapp.services.account_security import sessions  # noqa: PLC0415

    if not two_factor_enabled(user):
        raise ValidationFailed("Two-factor authentication is not on.", code="not_enabled")
    verify(user, code)
    with unit_of_work():
        _clear(user)
        audit.record(user, "security.2fa_disabled", user)
        notifications.notify(
            user.id,
            SECURITY_CHANGED,
            "Two-factor authentication is off",
            "Your account is protected by your password only. If this was not you, reset your password now.",
            link="/account/security",
        )
        sessions.revoke_others(user, keep_session)


def regenerate_codes(user: User, code: str) -> list[str]:
    """New recovery codes (the old ones stop working), with a fresh code."""
    if not two_factor_enabled(user):
        raise ValidationFailed("Two-factor authentication is not on.", code="not_enabled")
    verify(user, code, allow_recovery=False)
    with unit_of_work():
        codes = _new_codes(user)
        audit.record(user, "security.recovery_codes_regenerated", user)
        notifications.notify(
            user.id,
            SECURITY_CHANGED,
            "New recovery codes",
            "Your old two-factor recovery codes no longer work.",
            link="/account/security",
        )
    return codes


def _clear(user: User) -> None:
    user.totp_secret = None
    user.totp_confirmed_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def staff_reset(actor: User, user: User, reason: str) -> User:
    """Staff turn a customer's two-factor off after checking their identity (a lost phone and codes).

    Needs ``users.reset_2fa`` and a reason; audited; the customer is told, and every session of
    theirs ends.
    """
    from tradeapp.services.account_security import sessions  # noqa: PLC0415

    if not has_permission(actor, RESET_2FA):
        raise PermissionDenied("You do not have permission to reset two-factor authentication.")
    if user.is_staff:
        raise PermissionDenied("Staff two-factor is reset from the staff accounts page.", code="staff_account")
    reason = " ".join((reason or "").split())
    if len(reason) < 5:
        raise ValidationFailed("Say which identity checks were done.", {"reason": ["Give a reason (identity checks)."]})
    if len(reason) > 500:
        raise ValidationFailed("The reason is too long.", {"reason": ["At most 500 characters."]})
    if not two_factor_enabled(user) and not user.totp_secret:
        raise ValidationFailed("Two-factor authentication is not on for this customer.", code="not_enabled")
    with unit_of_work():
        _clear(user)
        audit.record(actor, "security.2fa_reset_by_staff", user, before={"enabled": True}, after={"reason": reason})
        notifications.notify(
            user.id,
            SECURITY_CHANGED,
            "Two-factor authentication was reset by support",
            "Our support team turned two-factor off after checking your identity. Turn it on again on your "
            "account page. If you did not ask for this, contact us at once.",
            link="/account/security",
        )
        sessions.revoke_others(user, None)
    return user
