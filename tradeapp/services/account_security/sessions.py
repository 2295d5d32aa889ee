"""Signed-in devices: web sessions and API logins, listed with device, IP and first/last seen, each
revocable (or all at once); a login from a new device or IP is alerted through the notification centre.

A web session carries a random ``sid`` in its (signed) cookie; the row says whether it still
counts. An API login is its refresh-token family: revoking it revokes the family's refresh tokens
and denies its access tokens (their ``fam`` claim) until they would expire anyway.
"""

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select, update

from tradeapp.errors import NotFound, ValidationFailed
from tradeapp.extensions import db
from tradeapp.mail import public_url
from tradeapp.models import KnownDevice, RefreshToken, User, UserSession
from tradeapp.models.types import utcnow
from tradeapp.services import audit, notifications, passwords, tokens, users
from tradeapp.services.account_security import NEW_LOGIN, SECURITY_CHANGED
from tradeapp.services.uow import unit_of_work

#: how often a session's "last seen" is written (not on every request)
TOUCH_EVERY = timedelta(minutes=1)
#: the "this was not me" link of a login alert stays good this long
DISOWN_MAX_AGE = 7 * 24 * 3600


def _fingerprint(user_agent: str, ip: str) -> str:
    return hashlib.sha256(f"{user_agent}\n{ip}".encode()).hexdigest()


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="session-disown")


def start(user: User, kind: str, sid: str, user_agent: str = "", ip: str = "") -> UserSession:
    """Record a new sign-in (in the caller's unit of work, or its own) and alert a new device or IP.

    The very first sign-in of an account is not alerted: every device is new then.
    """
    user_agent = (user_agent or "")[:300]
    ip = (ip or "")[:64]
    with unit_of_work():
        row = UserSession(user_id=user.id, kind=kind, sid=sid, user_agent=user_agent, ip=ip)
        db.session.add(row)
        db.session.flush()
        fingerprint = _fingerprint(user_agent, ip)
        known = db.session.scalars(select(KnownDevice.fingerprint).where(KnownDevice.user_id == user.id)).all()
        if fingerprint not in known:
            db.session.add(KnownDevice(user_id=user.id, fingerprint=fingerprint))
            if known:
                _alert(user, row)
    return row


def start_web(user: User, user_agent: str = "", ip: str = "") -> str:
    """A new web session's id (put it in the session cookie)."""
    sid = secrets.token_urlsafe(24)
    start(user, "web", sid, user_agent, ip)
    return sid


def _alert(user: User, row: UserSession) -> None:
    token = _serializer().dumps({"uid": user.id, "sid": row.sid})
    link = public_url("account_security.disown", token=token)
    device = describe(row.user_agent)
    notifications.notify(
        user.id,
        NEW_LOGIN,
        "New sign-in to your account",
        f"{device} from {row.ip or 'an unknown address'}. If this was not you, use the link in the e-mail: "
        "it signs that device out and makes you choose a new password.",
        link="/account/security",
        data={"session_id": row.id, "ip": row.ip, "device": device},
        mail_context={"session": row, "device": device, "disown_link": link},
    )


def describe(user_agent: str) -> str:
    """A short name for a user agent ("Chrome on Linux"), or the raw string's start."""
    ua = user_agent or ""
    browser = next(
        (
            name
            for key, name in (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
            if key in ua
        ),
        None,
    )
    system = next(
        (
            name
            for key, name in (
                ("Android", "Android"),
                ("iPhone", "iPhone"),
                ("Windows", "Windows"),
                ("Mac OS", "macOS"),
                ("Linux", "Linux"),
            )
            if key in ua
        ),
        None,
    )
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or (ua[:60] if ua else "Unknown device")


def touch(sid: str) -> bool:
    """Whether the web session ``sid`` still counts; notes when it was last seen (at most once a minute)."""
    row = db.session.execute(
        select(UserSession.id, UserSession.revoked_at, UserSession.last_seen_at).where(UserSession.sid == sid)
    ).first()
    if row is None or row.revoked_at is not None:
        return False
    now = utcnow()
    if row.last_seen_at is None or now - row.last_seen_at > TOUCH_EVERY:
        db.session.execute(update(UserSession).where(UserSession.id == row.id).values(last_seen_at=now))
        db.session.commit()
    return True


def touch_family(family: str) -> None:
    """An API login used its refresh token: it was seen now (the caller commits)."""
    db.session.execute(update(UserSession).where(UserSession.sid == family).values(last_seen_at=utcnow()))


def active(user: User) -> list[UserSession]:
    """The user's sessions that still count, newest first (an API login whose tokens all expired drops out)."""
    rows = db.session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    ).all()
    api_families = {r.sid for r in rows if r.kind == "api"}
    live = set()
    if api_families:
        live = set(
            db.session.scalars(
                select(RefreshToken.family).where(
                    RefreshToken.family.in_(api_families),
                    RefreshToken.revoked_at.is_(None),
                    RefreshToken.expires_at > utcnow(),
                )
            ).all()
        )
    return [r for r in rows if r.kind == "web" or r.sid in live]


def _end(uow, row: UserSession) -> None:
    row.revoked_at = utcnow()
    if row.kind == "api":
        tokens.revoke_family_rows(row.sid)
        uow.after_commit(tokens.deny_family, row.sid)


def revoke(user: User, session_id: int) -> UserSession:
    """End one of the user's sessions (another user's is not found)."""
    with unit_of_work() as uow:
        row = db.session.scalar(
            select(UserSession).where(UserSession.id == session_id, UserSession.user_id == user.id).with_for_update()
        )
        if row is None:
            raise NotFound("No such session.")
        if row.revoked_at is None:
            _end(uow, row)
            audit.record(user, "security.session_revoked", user, after={"session": row.id, "kind": row.kind})
        uow.keep(row)
    return row


def revoke_others(user: User, keep_sid: str | None) -> int:
    """End every session of the user but ``keep_sid`` (in the caller's unit of work, or its own)."""
    with unit_of_work() as uow:
        rows = db.session.scalars(
            select(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        ).all()
        ended = 0
        for row in rows:
            if keep_sid is not None and row.sid == keep_sid:
                continue
            _end(uow, row)
            ended += 1
        # Every other API login, recorded as a session or not: its refresh and access tokens end too.
        families = set(
            db.session.scalars(
                select(RefreshToken.family).where(
                    RefreshToken.user_id == user.id,
                    RefreshToken.revoked_at.is_(None),
                    RefreshToken.expires_at > utcnow(),
                )
            ).all()
        )
        families.discard(keep_sid)
        for family in families:
            tokens.revoke_family_rows(family)
            uow.after_commit(tokens.deny_family, family)
    return ended


def revoke_all(user: User, keep_sid: str | None) -> int:
    """The account page's "sign out everywhere else"."""
    with unit_of_work():
        ended = revoke_others(user, keep_sid)
        audit.record(user, "security.sessions_revoked", user, after={"ended": ended})
    return ended


def after_password_change(user: User, keep_sid: str | None, *, reset: bool = False) -> None:
    """A password change or reset: other sessions end and the customer is told."""
    with unit_of_work():
        revoke_others(user, keep_sid)
        notifications.notify(
            user.id,
            SECURITY_CHANGED,
            "Your password was reset" if reset else "Your password was changed",
            "Every other device was signed out. If this was not you, reset your password now and contact us.",
            link="/account/security",
        )


# -- "this was not me" -------------------------------------------------------------------------------


def disown_target(token: str) -> tuple[User, UserSession]:
    try:
        data = _serializer().loads(token, max_age=DISOWN_MAX_AGE)
    except SignatureExpired:
        raise ValidationFailed("This link has expired.", code="token_expired") from None
    except BadSignature:
        raise ValidationFailed("This link is invalid.", code="token_invalid") from None
    row = db.session.scalar(select(UserSession).where(UserSession.sid == str(data.get("sid", ""))))
    user = db.session.get(User, data.get("uid")) if row is not None else None
    if user is None or row.user_id != user.id:
        raise ValidationFailed("This link is invalid.", code="token_invalid")
    return user, row


def disown(token: str, ip: str = "") -> User:
    """The login alert's link: every session ends and the password must be reset (a reset link is e-mailed).

    The password is replaced by a random one nobody knows, so whoever signed in cannot again.
    """
    user, row = disown_target(token)
    with unit_of_work():
        user = db.session.get(User, user.id, with_for_update=True)
        revoke_others(user, None)
        user.password_hash = passwords.hash_password(secrets.token_urlsafe(32))
        user.password_changed_at = utcnow()
        audit.record(user, "security.login_disowned", user, after={"session": row.id, "ip": row.ip}, ip=ip)
        notifications.notify(
            user.id,
            SECURITY_CHANGED,
            "We signed every device out",
            "You reported a sign-in that was not yours. Choose a new password with the link we e-mailed you.",
        )
    users.request_password_reset(user.email)
    return user


def end(sid: str | None) -> None:
    """A web session logged out: it no longer counts nor shows in the list."""
    if not sid:
        return
    with unit_of_work():
        db.session.execute(
            update(UserSession)
            .where(UserSession.sid == sid, UserSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
