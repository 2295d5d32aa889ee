"""Mobile JWTs: access (1 h) and refresh (7 days) with rotation, reuse detection and revocation."""

import hashlib
import threading
import time
import uuid
from datetime import timedelta

from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token, get_jti
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt.exceptions import PyJWTError
from sqlalchemy import delete, or_, select, update

from tradeapp.errors import AuthenticationFailed
from tradeapp.extensions import db
from tradeapp.models import RefreshToken, User, UserSession
from tradeapp.models.types import utcnow
from tradeapp.queues import redis_connection
from tradeapp.services import audit, staff, users

TOKEN_NOT_VALID = "Token is invalid or expired."  # noqa: S105 - a message, not a secret


#: customers' second factor at an API login: ``check(user, otp)`` raises AuthenticationFailed
#: (registered by account security, so this module does not import it)
SECOND_FACTORS: list = []
#: an API login was issued: ``record(user, family, user_agent, ip)`` (sessions and new-device alerts)
LOGIN_RECORDERS: list = []


def _not_valid() -> AuthenticationFailed:
    return AuthenticationFailed(TOKEN_NOT_VALID, {"refresh": [TOKEN_NOT_VALID]}, code="token_not_valid")


def password_claim(user: User) -> str:
    """A digest of the password hash: tokens carry it, so every token dies with the password."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def _issue(user: User, family: str, user_agent: str) -> dict[str, str]:
    claims = {"role": user.role} if user.role else {}
    claims["pwd"] = password_claim(user)
    claims["fam"] = family  # revoking the login (its family) denies its access tokens too
    access = create_access_token(identity=str(user.id), additional_claims=claims)
    refresh = create_refresh_token(identity=str(user.id), additional_claims={"fam": family})
    db.session.add(
        RefreshToken(
            jti=get_jti(refresh),
            user_id=user.id,
            family=family,
            expires_at=utcnow() + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"],
            user_agent=(user_agent or "")[:300],
        )
    )
    return {"access": access, "refresh": refresh}


def issue_tokens(user: User, user_agent: str = "", ip: str | None = None) -> dict[str, str]:
    """A new access/refresh pair starting a new token family.

    With ``ip`` (a login) the family is recorded as one of the user's sessions, listed on the
    account page and alerted when the device or address is new.
    """
    family = uuid.uuid4().hex
    pair = _issue(user, family, user_agent)
    if ip is not None:
        for hook in LOGIN_RECORDERS:
            hook(user, family, user_agent, ip)
    db.session.commit()
    return pair


def login(email: str, password: str, otp: str | None = None, user_agent: str = "", ip: str = "") -> dict[str, str]:
    """Check credentials (and a staff member's TOTP code), then issue a token pair.

    Raises AuthenticationFailed (``authentication_failed``, ``otp_required``, ``otp_invalid``,
    ``otp_not_enrolled``) or AccountLocked. Wrong codes lock the login out like wrong
    passwords do, so the second factor cannot be guessed faster than the password.
    """
    user = users.authenticate(email, password)
    if user.is_staff and (current_app.config["STAFF_2FA_REQUIRED"] or user.totp_confirmed_at is not None):
        if user.totp_confirmed_at is None:
            raise AuthenticationFailed(
                "Set up two-factor authentication in the staff console before using the API.",
                code="otp_not_enrolled",
            )
        if not (otp or "").strip():
            raise AuthenticationFailed(
                "Staff accounts must send the code from their authenticator app.",
                {"otp": ["This field is required for staff accounts."]},
                code="otp_required",
            )
        try:
            staff.verify_otp(user, otp)
        except AuthenticationFailed:
            audit.record(user, "staff.login_failed", user, after={"channel": "api", "reason": "otp_invalid"})
            db.session.commit()
            raise
    elif not user.is_staff:
        for check in SECOND_FACTORS:
            check(user, otp)
    if user.is_staff:
        audit.record(user, "staff.login", user, after={"channel": "api"})
    return issue_tokens(user, user_agent, ip=ip)


def refresh_claims(token: str) -> dict:
    """The claims of a well-signed, unexpired refresh token; AuthenticationFailed otherwise.

    Revocation is not checked here: :func:`rotate` must see revoked tokens to detect reuse.
    """
    try:
        claims = decode_token(token)
    except (PyJWTError, JWTExtendedException) as exc:
        raise _not_valid() from exc
    if claims.get("type") != "refresh" or not claims.get("jti") or not str(claims.get("sub", "")).isdigit():
        raise _not_valid()
    return claims


def rotate(refresh_claims: dict, user_agent: str = "") -> dict[str, str]:
    """Exchange a valid refresh token for a new pair; the used one is revoked.

    Presenting an already-revoked token means it leaked: the whole family is revoked.
    """
    row = db.session.scalar(select(RefreshToken).where(RefreshToken.jti == refresh_claims["jti"]).with_for_update())
    if row is None or str(row.user_id) != str(refresh_claims.get("sub")):
        raise _not_valid()
    if row.revoked_at is not None:
        _revoke_family(row.family)
        db.session.commit()
        raise _not_valid()
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise _not_valid()
    row.revoked_at = utcnow()
    pair = _issue(user, row.family, user_agent)
    db.session.execute(update(UserSession).where(UserSession.sid == row.family).values(last_seen_at=utcnow()))
    db.session.commit()
    return pair


def revoke_family_rows(family: str) -> None:
    """Revoke every refresh token of a login (the caller commits; pair it with :func:`deny_family`)."""
    _revoke_family(family)


def _revoke_family(family: str) -> None:
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def revoke(refresh_claims: dict, user: User | None = None) -> None:
    """Log out: the refresh token and every token rotated from the same login stop working.

    With ``user``, a token that belongs to someone else is refused (and left alone).
    """
    row = db.session.scalar(select(RefreshToken).where(RefreshToken.jti == refresh_claims["jti"]))
    if row is None or (user is not None and row.user_id != user.id):
        raise _not_valid()
    _revoke_family(row.family)
    db.session.commit()


# -- access-token denylist ----------------------------------------------------------------------
# Access tokens are stateless; a logged-out one is remembered by its jti until it would expire
# anyway: in Redis when there is one (every web process sees it), in process memory in embedded mode.

DENYLIST_PREFIX = "jwt:denied:"


class _MemoryDenylist:
    """The embedded-mode stand-in for the Redis keys: jti → expiry, pruned as it grows."""

    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, jti: str, ttl: int) -> None:
        now = time.time()
        with self._lock:
            if len(self._expiry) > 10000:
                self._expiry = {k: v for k, v in self._expiry.items() if v > now}
            self._expiry[jti] = now + ttl

    def __contains__(self, jti: str) -> bool:
        with self._lock:
            return self._expiry.get(jti, 0) > time.time()


def _redis():
    if current_app.config.get("REDIS_URL") or "tradeapp.redis" in current_app.extensions:
        return redis_connection()
    return None


def revoke_access(token_or_claims: str | dict) -> None:
    """Deny an access token (encoded, or its decoded claims) until it expires."""
    claims = decode_token(token_or_claims) if isinstance(token_or_claims, str) else token_or_claims
    ttl = int(claims.get("exp", 0) - time.time()) + 1
    if ttl <= 0:
        return
    redis = _redis()
    if redis is not None:
        redis.set(DENYLIST_PREFIX + claims["jti"], "1", ex=ttl)
    else:
        current_app.extensions.setdefault("tradeapp.jwt_denylist", _MemoryDenylist()).add(claims["jti"], ttl)


def deny_family(family: str) -> None:
    """Deny every access token of a login (its ``fam`` claim) for as long as one could still be valid."""
    ttl = int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()) + 1
    redis = _redis()
    if redis is not None:
        redis.set(DENYLIST_PREFIX + "fam:" + family, "1", ex=ttl)
    else:
        current_app.extensions.setdefault("tradeapp.jwt_denylist", _MemoryDenylist()).add("fam:" + family, ttl)


def access_revoked(claims: dict) -> bool:
    """Whether an access token was logged out (its jti is on the denylist) or its login revoked (its family)."""
    keys = [claims.get("jti", "")]
    if claims.get("fam"):
        keys.append("fam:" + claims["fam"])
    redis = _redis()
    if redis is not None:
        return bool(redis.exists(*(DENYLIST_PREFIX + k for k in keys)))
    denied = current_app.extensions.get("tradeapp.jwt_denylist", ())
    return any(k in denied for k in keys)


def is_revoked(jti: str) -> bool:
    """Unknown refresh tokens count as revoked."""
    row = db.session.scalar(select(RefreshToken).where(RefreshToken.jti == jti))
    return row is None or row.revoked_at is not None


def purge_expired(retention_days: int = 1) -> int:
    """Delete refresh tokens that expired or were revoked more than ``retention_days`` ago."""
    cutoff = utcnow() - timedelta(days=retention_days)
    result = db.session.execute(
        delete(RefreshToken).where(or_(RefreshToken.expires_at < utcnow(), RefreshToken.revoked_at < cutoff))
    )
    db.session.commit()
    return result.rowcount or 0
