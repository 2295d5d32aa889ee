"""Customer accounts: registration, e-mail verification, login with lockout, passwords, profile."""

import hashlib
import re
import secrets
import string
from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from tradeapp.errors import AccountLocked, AuthenticationFailed, ValidationFailed
from tradeapp.extensions import db
from tradeapp.mail import public_url, send_mail
from tradeapp.models import LoginThrottle, RefreshToken, User
from tradeapp.models.types import utcnow
from tradeapp.services import audit, passwords, referrals

USERNAME_RE = re.compile(r"^[\w.@+-]{3,150}$")
PHONE_RE = re.compile(r"^\+?[0-9 ()-]{6,20}$")
REFERRAL_ALPHABET = string.ascii_uppercase + string.digits
PROFILE_FIELDS = ("email", "username", "first_name", "last_name", "phone_number")
INVALID_LOGIN = "Invalid email or password."


# -- validation helpers -------------------------------------------------------------------


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def _check_email(email: str, errors: dict, *, exclude_id: int | None = None) -> str:
    email = normalize_email(email)
    if not email:
        errors.setdefault("email", []).append("This field is required.")
        return email
    try:
        email = validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        errors.setdefault("email", []).append("Enter a valid email address.")
        return email
    query = select(User.id).where(func.lower(User.email) == email)
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    if db.session.scalar(query) is not None:
        errors.setdefault("email", []).append("A user with this email already exists.")
    return email


def _check_username(username: str, errors: dict, *, exclude_id: int | None = None) -> str:
    username = (username or "").strip()
    if not username:
        errors.setdefault("username", []).append("This field is required.")
        return username
    if not USERNAME_RE.match(username):
        errors.setdefault("username", []).append("Use 3-150 letters, digits and @/./+/-/_ characters.")
        return username
    query = select(User.id).where(func.lower(User.username) == username.lower())
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    if db.session.scalar(query) is not None:
        errors.setdefault("username", []).append("A user with that username already exists.")
    return username


def _check_optional(fields: dict, errors: dict) -> dict:
    clean = {}
    for name in ("first_name", "last_name"):
        value = (fields.get(name) or "").strip()
        if len(value) > 150:
            errors.setdefault(name, []).append("Use at most 150 characters.")
        clean[name] = value
    phone = (fields.get("phone_number") or "").strip()
    if phone and not PHONE_RE.match(phone):
        errors.setdefault("phone_number", []).append("Enter a valid phone number.")
    clean["phone_number"] = phone
    return clean


def _check_new_password(password: str, confirm: str, errors: dict, *, field: str = "password", **attrs) -> None:
    if not password:
        errors.setdefault(field, []).append("This field is required.")
        return
    if password != confirm:
        errors.setdefault(f"{field}_confirm", []).append("Passwords don't match.")
    problems = passwords.password_problems(password, **attrs)
    if problems:
        errors.setdefault(field, []).extend(problems)


def _new_referral_code() -> str:
    while True:
        code = "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(8))
        if db.session.scalar(select(User.id).where(User.referral_code == code)) is None:
            return code


# -- signed tokens --------------------------------------------------------------------------


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def email_verification_token(user: User) -> str:
    return _serializer("email-verify").dumps({"uid": user.id, "email": user.email})


def password_reset_token(user: User) -> str:
    return _serializer("password-reset").dumps({"uid": user.id, "stamp": user.password_stamp})


def _load(salt: str, token: str, max_age: int) -> dict:
    try:
        data = _serializer(salt).loads(token, max_age=max_age)
    except SignatureExpired:
        raise ValidationFailed(
            "This link has expired.", {"token": ["This link has expired."]}, code="token_expired"
        ) from None
    except BadSignature:
        raise ValidationFailed(
            "This link is invalid.", {"token": ["This link is invalid."]}, code="token_invalid"
        ) from None
    if not isinstance(data, dict) or "uid" not in data:
        raise ValidationFailed("This link is invalid.", {"token": ["This link is invalid."]}, code="token_invalid")
    return data


# -- registration and verification ----------------------------------------------------------


def register_user(
    *,
    email: str,
    username: str,
    password: str,
    password_confirm: str,
    first_name: str = "",
    last_name: str = "",
    phone_number: str = "",
    referral_code: str = "",
    ip: str = "",
    device: str = "",
) -> User:
    """Create a customer, link the referrer, and e-mail a verification link.

    ``ip`` and ``device`` (a hash of the browser's signature) feed the referral programme's
    burst rule; they are only kept for referred sign-ups.
    """
    errors: dict[str, list[str]] = {}
    email = _check_email(email, errors)
    username = _check_username(username, errors)
    extra = _check_optional({"first_name": first_name, "last_name": last_name, "phone_number": phone_number}, errors)
    _check_new_password(
        password,
        password_confirm,
        errors,
        email=email,
        username=username,
        names=(extra["first_name"], extra["last_name"]),
    )
    referred_by = None
    code = (referral_code or "").strip().upper()
    if code:
        referred_by = db.session.scalar(select(User).where(User.referral_code == code))
        if referred_by is None:
            errors.setdefault("referral_code", []).append("This referral code is not valid.")
    if errors:
        raise ValidationFailed("Please correct the errors below.", errors)

    user = User(
        email=email,
        username=username,
        password_hash=passwords.hash_password(password),
        referral_code=_new_referral_code(),
        referred_by=referred_by,
        password_changed_at=utcnow(),
        **extra,
    )
    db.session.add(user)
    _flush_unique()
    audit.record(
        user, "user.registered", user, after={"email": email, "username": username, "referred_by": code or None}
    )
    referrals.record_signup(user, ip=ip, device=device)
    db.session.commit()
    send_verification_email(user)
    return user


def _flush_unique() -> None:
    """Flush; a unique e-mail/username taken by a concurrent request becomes a form error."""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise ValidationFailed(
            "That email or username was just taken. Please choose another.",
            {
                "email": ["Check this address: it may already be registered."],
                "username": ["This username may be taken."],
            },
        ) from None


def send_verification_email(user: User) -> None:
    link = public_url("users.verify_email", token=email_verification_token(user))
    send_mail(user.email, "Confirm your email address", "verify_email", user=user, link=link)


def verify_email(token: str) -> User:
    """Mark the address in ``token`` as verified (idempotent)."""
    data = _load("email-verify", token, current_app.config["EMAIL_TOKEN_MAX_AGE"])
    user = db.session.get(User, data["uid"])
    if user is None or user.email != data.get("email"):
        raise ValidationFailed("This link is invalid.", {"token": ["This link is invalid."]}, code="token_invalid")
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        audit.record(user, "user.email_verified", user, after={"email": user.email})
        db.session.commit()
    return user


# -- login with lockout -----------------------------------------------------------------------


def failure_key(email: str) -> str:
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()


def _lock_seconds(failures: int) -> int:
    cfg = current_app.config
    over = failures - cfg["LOCKOUT_THRESHOLD"]
    if over < 0:
        return 0
    return min(cfg["LOCKOUT_BASE_SECONDS"] * (2**over), cfg["LOCKOUT_MAX_SECONDS"])


def check_not_locked(key: str) -> None:
    row = db.session.get(LoginThrottle, key)
    if row is not None and row.locked_until is not None:
        remaining = (row.locked_until - utcnow()).total_seconds()
        if remaining > 0:
            wait = int(remaining) + 1
            raise AccountLocked(f"Too many failed attempts. Try again in {_humanize(wait)}.", retry_after=wait)


def _humanize(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{round(seconds / 60)} minutes"


def record_failure(key: str) -> None:
    row = db.session.get(LoginThrottle, key, with_for_update=True)
    if row is None:
        row = LoginThrottle(key=key, failures=0)
        db.session.add(row)
    row.failures = (row.failures or 0) + 1
    seconds = _lock_seconds(row.failures)
    if seconds:
        row.locked_until = utcnow() + timedelta(seconds=seconds)
    db.session.commit()


def clear_failures(key: str) -> None:
    row = db.session.get(LoginThrottle, key)
    if row is not None:
        db.session.delete(row)


def authenticate(email: str, password: str) -> User:
    """The user with these credentials, or AuthenticationFailed / AccountLocked.

    The same error and comparable work for unknown addresses, wrong passwords and
    disabled accounts, so responses reveal nothing about which accounts exist.
    """
    key = failure_key(email)
    check_not_locked(key)
    user = db.session.scalar(select(User).where(func.lower(User.email) == normalize_email(email)))
    if user is None:
        passwords.burn_password_check(password or "")
        record_failure(key)
        raise AuthenticationFailed(INVALID_LOGIN)
    if not passwords.verify_password(user.password_hash, password or "") or not user.is_active:
        record_failure(key)
        raise AuthenticationFailed(INVALID_LOGIN)
    clear_failures(key)
    user.last_login_at = utcnow()
    audit.record(user, "auth.login", user)
    db.session.commit()
    return user


def lockout_status(email: str) -> LoginThrottle | None:
    return db.session.get(LoginThrottle, failure_key(email))


def clear_lockout(email: str) -> bool:
    """Remove the failure counter for ``email``; the caller commits."""
    row = db.session.get(LoginThrottle, failure_key(email))
    if row is None:
        return False
    db.session.delete(row)
    return True


# -- passwords ----------------------------------------------------------------------------------


def request_password_reset(email: str) -> None:
    """E-mail a reset link if the address belongs to an active account; silent otherwise."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == normalize_email(email)))
    if user is None or not user.is_active:
        return
    token = password_reset_token(user)
    link = public_url("users.reset_password", token=token)
    send_mail(
        user.email,
        "Reset your password",
        "reset_password",
        user=user,
        link=link,
        token=token,
        minutes=current_app.config["RESET_TOKEN_MAX_AGE"] // 60,
    )


def _set_password(user: User, password: str) -> None:
    user.password_hash = passwords.hash_password(password)
    user.password_changed_at = utcnow()
    # Changing the password signs the user out of every mobile session.
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def check_reset_token(token: str) -> User:
    data = _load("password-reset", token, current_app.config["RESET_TOKEN_MAX_AGE"])
    user = db.session.get(User, data["uid"])
    if user is None or not user.is_active or user.password_stamp != data.get("stamp"):
        raise ValidationFailed(
            "This link is invalid.", {"token": ["This link is invalid or was already used."]}, code="token_invalid"
        )
    return user


def reset_password(token: str, password: str, password_confirm: str) -> User:
    """Set a new password from a reset link; the link then stops working."""
    user = check_reset_token(token)
    errors: dict[str, list[str]] = {}
    _check_new_password(
        password,
        password_confirm,
        errors,
        email=user.email,
        username=user.username,
        names=(user.first_name, user.last_name),
    )
    if errors:
        raise ValidationFailed("Please correct the errors below.", errors)
    _set_password(user, password)
    clear_lockout(user.email)
    audit.record(user, "user.password_reset", user)
    # Following a link from the mailbox proves the address too.
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    db.session.commit()
    _after_password_change(user, None, reset=True)
    return user


def pending_two_factor_user(pending: dict, max_age: int) -> User | None:
    """The user a login's first step (the password) vouched for, while the second step is due."""
    try:
        uid, at = int(pending.get("uid", 0)), int(pending.get("at", 0))
    except (TypeError, ValueError):
        return None
    if not uid or utcnow().timestamp() - at > max_age:
        return None
    user = db.session.get(User, uid)
    if user is None or not user.is_active or user.password_stamp != pending.get("stamp"):
        return None
    return user


def change_password(
    user: User, current_password: str, password: str, password_confirm: str, *, keep_session: str | None = None
) -> None:
    errors: dict[str, list[str]] = {}
    if not passwords.verify_password(user.password_hash, current_password or ""):
        errors["current_password"] = ["Your current password is not correct."]
    _check_new_password(
        password,
        password_confirm,
        errors,
        field="new_password",
        email=user.email,
        username=user.username,
        names=(user.first_name, user.last_name),
    )
    if not errors and current_password == password:
        errors["new_password"] = ["Choose a password different from the current one."]
    if errors:
        raise ValidationFailed("Please correct the errors below.", errors)
    _set_password(user, password)
    audit.record(user, "user.password_changed", user)
    db.session.commit()
    _after_password_change(user, keep_session, reset=False)


#: ``hook(user, keep_session, reset=…)`` after a password change or reset (account security registers one:
#: other sessions end and the customer is told)
PASSWORD_CHANGED: list = []


def _after_password_change(user: User, keep_session: str | None, *, reset: bool) -> None:
    for hook in PASSWORD_CHANGED:
        hook(user, keep_session, reset=reset)


# -- profile ------------------------------------------------------------------------------------


def update_profile(user: User, changes: dict) -> User:
    """Change the user's own editable fields; a new e-mail must be verified again."""
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationFailed(
            "These fields cannot be changed.", {name: ["This field cannot be changed."] for name in sorted(unknown)}
        )
    errors: dict[str, list[str]] = {}
    clean: dict[str, str] = {}
    if "email" in changes:
        clean["email"] = _check_email(changes["email"], errors, exclude_id=user.id)
    if "username" in changes:
        clean["username"] = _check_username(changes["username"], errors, exclude_id=user.id)
    optional = {k: changes[k] for k in ("first_name", "last_name", "phone_number") if k in changes}
    for key, value in optional.items():
        if value is not None and not isinstance(value, str):
            errors.setdefault(key, []).append("Not a valid string.")
    if not errors:
        clean.update({k: v for k, v in _check_optional(optional, errors).items() if k in optional})
    if errors:
        raise ValidationFailed("Please correct the errors below.", errors)
    email_changed = "email" in clean and clean["email"] != user.email
    before = {k: getattr(user, k) for k, v in clean.items() if getattr(user, k) != v}
    for key, value in clean.items():
        setattr(user, key, value)
    if email_changed:
        user.email_verified_at = None
    _flush_unique()
    if before:
        audit.record(user, "user.profile_updated", user, before=before, after={k: clean[k] for k in before})
    db.session.commit()
    if email_changed:
        send_verification_email(user)
    return user
