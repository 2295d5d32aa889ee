"""Staff accounts: creation, roles, two-factor, account status. Every change is audited."""

import pyotp
import segno
from flask import current_app
from sqlalchemy import func, select

from tradeapp.errors import AuthenticationFailed, PermissionDenied, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import User
from tradeapp.models.types import utcnow
from tradeapp.models.users import STAFF_ROLES
from tradeapp.services import audit, passwords, users
from tradeapp.services.users import (
    _check_email,
    _check_new_password,
    _new_referral_code,
    clear_lockout,
    lockout_status,
)


def create_staff(
    email: str,
    password: str,
    role: str,
    *,
    totp_secret: str | None = None,
    actor: User | None = None,
    username: str | None = None,
) -> User:
    """Create a staff account (CLI or an admin); with ``totp_secret`` its 2FA is already enrolled."""
    errors: dict[str, list[str]] = {}
    if role not in STAFF_ROLES:
        errors["role"] = [f"Choose one of: {', '.join(STAFF_ROLES)}."]
    email = _check_email(email, errors)
    username = username or email.split("@")[0]
    base, n = username, 1
    while db.session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        n += 1
        username = f"{base}{n}"
    _check_new_password(password, password, errors, email=email, username=username)
    if totp_secret:
        try:
            pyotp.TOTP(totp_secret).now()
            if len(totp_secret) < 16:
                raise ValueError
        except Exception:  # noqa: BLE001 - pyotp raises several types on bad base32
            errors["totp_secret"] = ["Give a base32 secret of at least 16 characters."]
    if errors:
        raise ValidationFailed("Please correct the errors below.", errors)
    now = utcnow()
    user = User(
        email=email,
        username=username,
        password_hash=passwords.hash_password(password),
        referral_code=_new_referral_code(),
        role=role,
        email_verified_at=now,
        password_changed_at=now,
        totp_secret=totp_secret.upper() if totp_secret else None,
        totp_confirmed_at=now if totp_secret else None,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "staff.created", user, after={"email": email, "role": role})
    db.session.commit()
    return user


def set_role(actor: User, user: User, role: str | None) -> User:
    """Grant, change or remove a staff role (admins only; not their own)."""
    if actor.role != "admin":
        raise PermissionDenied("Only administrators manage roles.")
    if role is not None and role not in STAFF_ROLES:
        raise ValidationFailed("Unknown role.", {"role": [f"Choose one of: {', '.join(STAFF_ROLES)}."]})
    if actor.id == user.id:
        raise PermissionDenied("You cannot change your own role.")
    if user.role == "admin" and role != "admin":
        admins = db.session.scalar(
            select(func.count()).select_from(User).where(User.role == "admin", User.is_active_flag)
        )
        if admins <= 1:
            raise ValidationFailed(
                "The last administrator cannot lose the role.", {"role": ["At least one administrator must remain."]}
            )
    before = {"role": user.role}
    if before["role"] == role:
        return user
    user.role = role
    if role is None:
        user.totp_secret = None
        user.totp_confirmed_at = None
    audit.record(actor, "user.role_changed", user, before=before, after={"role": role})
    db.session.commit()
    return user


def set_active(actor: User, user: User, active: bool, reason: str = "") -> User:
    """Disable or re-enable an account."""
    if actor.id == user.id:
        raise PermissionDenied("You cannot change your own account status.")
    if user.role == "admin" and actor.role != "admin":
        raise PermissionDenied("Only administrators can change an administrator's status.")
    if user.is_active_flag == active:
        return user
    before = {"is_active": user.is_active_flag}
    user.is_active_flag = active
    audit.record(
        actor,
        "user.enabled" if active else "user.disabled",
        user,
        before=before,
        after={"is_active": active, "reason": reason[:500]},
    )
    db.session.commit()
    return user


def unlock(actor: User, user: User) -> bool:
    """Clear failed-login lockout for the user's address."""
    row = lockout_status(user.email)
    if row is None:
        raise ValidationFailed("This account has no failed logins to clear.", code="not_locked")
    before = {
        "failures": row.failures,
        "locked_until": row.locked_until.isoformat() if row.locked_until else None,
    }
    cleared = clear_lockout(user.email)
    audit.record(actor, "user.unlocked", user, before=before, after={"failures": 0, "locked_until": None})
    db.session.commit()
    return cleared


def reset_two_factor(actor: User, user: User) -> User:
    """Make a staff member enrol two-factor again (lost device)."""
    if actor.role != "admin":
        raise PermissionDenied("Only administrators reset two-factor.")
    if user.totp_secret is None and user.totp_confirmed_at is None:
        raise ValidationFailed("Two-factor is not set up for this account.", code="not_enrolled")
    before = {"enrolled": user.totp_confirmed_at is not None}
    user.totp_secret = None
    user.totp_confirmed_at = None
    user.totp_last_step = None
    audit.record(actor, "user.2fa_reset", user, before=before, after={"enrolled": False})
    db.session.commit()
    return user


# -- TOTP ---------------------------------------------------------------------------------------


def enrolment_secret(user: User) -> str:
    """The secret being enrolled, created on first call and kept until confirmed."""
    if user.totp_confirmed_at is not None:
        raise ValidationFailed("Two-factor is already set up.")
    if not user.totp_secret:
        user.totp_secret = pyotp.random_base32()
        db.session.commit()
    return user.totp_secret


def provisioning_uri(user: User) -> str:
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=current_app.config["TOTP_ISSUER"])


def qr_svg(user: User) -> str:
    """The enrolment QR code as inline SVG markup."""
    return segno.make(provisioning_uri(user), error="m").svg_inline(scale=5, dark="#0f172a", light="#ffffff")


def _accept(user: User, code: str) -> bool:
    code = (code or "").replace(" ", "")
    if not (code.isdigit() and len(code) == 6) or not user.totp_secret:
        return False
    totp = pyotp.TOTP(user.totp_secret)
    now = int(utcnow().timestamp())
    current = now // totp.interval
    for step in (current - 1, current, current + 1):
        if totp.at(step * totp.interval) == code:
            # A code is good once: refuse the same or an earlier step again (replay).
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False
            user.totp_last_step = step
            return True
    return False


def confirm_enrolment(user: User, code: str) -> User:
    if not _accept(user, code):
        raise ValidationFailed(
            "That code is not valid.", {"otp": ["That code is not valid. Check the time on your device."]}
        )
    user.totp_confirmed_at = utcnow()
    audit.record(user, "staff.2fa_enrolled", user)
    db.session.commit()
    return user


def verify_otp(user: User, code: str) -> None:
    """Second factor of a staff login; raises AuthenticationFailed on a bad or reused code."""
    if user.totp_confirmed_at is None:
        raise AuthenticationFailed("Two-factor is not set up for this account.", code="otp_not_enrolled")
    key = _otp_failure_key(user)
    users.check_not_locked(key)
    if not _accept(user, code):
        users.record_failure(key)
        raise AuthenticationFailed(
            "The two-factor code is not valid.", {"otp": ["The two-factor code is not valid."]}, code="otp_invalid"
        )
    users.clear_failures(key)
    db.session.commit()


def _otp_failure_key(user: User) -> str:
    """Wrong codes have their own counter (a right password clears the password one), shared by web and API."""
    return users.failure_key(f"otp:{user.email}")


def complete_login(user: User, code: str) -> User:
    """Second factor of a staff web login: confirm enrolment or check the code; audits ``staff.login``.

    :raise PermissionDenied: for a customer
    :raise ValidationFailed: (field ``otp``) for a wrong, malformed or replayed code
    """
    if not user.is_staff:
        raise PermissionDenied("Two-factor sign-in is for staff accounts.")
    enrolling = user.totp_confirmed_at is None
    key = _otp_failure_key(user)
    users.check_not_locked(key)
    if not _accept(user, code):
        users.record_failure(key)
        message = (
            "That code is not valid. Check the time on your device."
            if enrolling
            else "The two-factor code is not valid."
        )
        raise ValidationFailed(message, {"otp": [message]}, code="otp_invalid")
    users.clear_failures(key)
    if enrolling:
        user.totp_confirmed_at = utcnow()
        audit.record(user, "staff.2fa_enrolled", user)
    audit.record(user, "staff.login", user, after={"enrolled_now": enrolling})
    db.session.commit()
    return user


def accept_code(user: User, code: str) -> bool:
    """Whether ``code`` is the user's current TOTP code, not used before (customers' two-factor too)."""
    return _accept(user, code)
