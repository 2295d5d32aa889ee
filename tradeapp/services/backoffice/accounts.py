"""Staff actions on an account, each permission-checked, one unit of work and audited with a reason.

Freeze/unfreeze (``compliance.require_unfrozen`` enforces it), force a password reset, revoke every
session and token, reset a staff member's two-factor (admins), staff notes; plus the login record
the user 360 shows and the session check ``tradeapp.auth`` asks on every request.
"""

import secrets
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select, update

from tradeapp.errors import PermissionDenied, ValidationFailed
from tradeapp.extensions import db
from tradeapp.mail import public_url
from tradeapp.models import AccountControl, LoginEvent, RefreshToken, StaffNote, User
from tradeapp.models.types import utcnow
from tradeapp.permissions import has_permission
from tradeapp.services import audit, compliance, passwords, users
from tradeapp.services.uow import unit_of_work

#: who may do what on the user 360
MANAGE = "users.manage"


def _require(actor: User, permission: str, target: User) -> None:
    if not has_permission(actor, permission):
        raise PermissionDenied("Your role does not allow this action.")
    if actor.id == target.id:
        raise PermissionDenied("You cannot do this to your own account.", code="self_action")
    if target.role == "admin" and actor.role != "admin":
        raise PermissionDenied("Only administrators act on an administrator's account.")


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise ValidationFailed("Say why: the reason goes to the audit log.", {"reason": ["Give a reason."]})
    return reason[:500]


def _control(user_id: int, lock: bool = True) -> AccountControl:
    """The account's control row, created on first use (locked for the change)."""
    stmt = select(AccountControl).where(AccountControl.user_id == user_id)
    if lock:
        stmt = stmt.with_for_update()
    control = db.session.scalar(stmt)
    if control is None:
        control = AccountControl(user_id=user_id, frozen_reason="")
        db.session.add(control)
        db.session.flush()
    return control


def control_of(user: User) -> AccountControl | None:
    """The account's controls, or None when staff never acted on it."""
    return db.session.get(AccountControl, user.id)


def freeze(actor: User, user: User, reason: str) -> AccountControl:
    """Freeze: the customer still logs in and sees everything but cannot trade, withdraw or transfer."""
    _require(actor, MANAGE, user)
    reason = _reason(reason)
    with unit_of_work() as uow:
        control = _control(user.id)
        if control.frozen_at is not None:
            raise ValidationFailed("The account is already frozen.", code="already_frozen")
        control.frozen_at = utcnow()
        control.frozen_reason = reason
        control.frozen_by_id = actor.id
        audit.record(actor, "user.frozen", user, before={"frozen": False}, after={"frozen": True, "reason": reason})
        uow.emit_to_user(user.id, "notification", {"message": "Your account has been frozen.", "level": "warning"})
    return control


def unfreeze(actor: User, user: User, reason: str) -> AccountControl:
    """Lift a freeze."""
    _require(actor, MANAGE, user)
    reason = _reason(reason)
    with unit_of_work():
        control = _control(user.id)
        if control.frozen_at is None:
            raise ValidationFailed("The account is not frozen.", code="not_frozen")
        before = {"frozen": True, "reason": control.frozen_reason}
        control.frozen_at = None
        control.frozen_reason = ""
        control.frozen_by_id = None
        audit.record(actor, "user.unfrozen", user, before=before, after={"frozen": False, "reason": reason})
    return control


def _revoke_tokens(user: User) -> int:
    result = db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount or 0


def revoke_sessions(actor: User, user: User, reason: str) -> int:
    """Log the account out everywhere: every web session and every API token issued until now."""
    _require(actor, MANAGE, user)
    reason = _reason(reason)
    with unit_of_work():
        control = _control(user.id)
        control.sessions_revoked_at = utcnow()
        tokens = _revoke_tokens(user)
        audit.record(actor, "user.sessions_revoked", user, after={"refresh_tokens_revoked": tokens, "reason": reason})
    return tokens


def force_password_reset(actor: User, user: User, reason: str) -> None:
    """The old password stops working (and every session with it); the customer gets a reset link."""
    _require(actor, MANAGE, user)
    reason = _reason(reason)
    with unit_of_work() as uow:
        control = _control(user.id)
        user = db.session.scalar(select(User).where(User.id == user.id).with_for_update())
        # An unguessable password nobody knows: the stamp changes, so sessions and tokens die with it.
        user.password_hash = passwords.hash_password(secrets.token_urlsafe(32))
        user.password_changed_at = utcnow()
        control.password_reset_forced_at = utcnow()
        control.sessions_revoked_at = utcnow()
        _revoke_tokens(user)
        audit.record(actor, "user.password_reset_forced", user, after={"reason": reason})
        token = users.password_reset_token(user)
        uow.mail(
            user.email,
            "Set a new password",
            "password_reset_forced",
            user=user,
            link=public_url("users.reset_password", token=token),
            token=token,
            minutes=current_app.config["RESET_TOKEN_MAX_AGE"] // 60,
        )


def reset_two_factor(actor: User, user: User, reason: str) -> None:
    """A staff member lost their authenticator: they enrol again at next login (administrators only)."""
    if actor.role != "admin":
        raise PermissionDenied("Only administrators reset two-factor.")
    if not user.is_staff:
        raise ValidationFailed("Only staff accounts use two-factor here.", code="not_staff")
    if actor.id == user.id:
        raise PermissionDenied("You cannot reset your own two-factor.", code="self_action")
    reason = _reason(reason)
    if user.totp_secret is None and user.totp_confirmed_at is None:
        raise ValidationFailed("Two-factor is not set up for this account.", code="not_enrolled")
    with unit_of_work():
        user = db.session.scalar(select(User).where(User.id == user.id).with_for_update())
        before = {"enrolled": user.totp_confirmed_at is not None}
        user.totp_secret = None
        user.totp_confirmed_at = None
        user.totp_last_step = None
        control = _control(user.id)
        control.sessions_revoked_at = utcnow()
        audit.record(actor, "user.2fa_reset", user, before=before, after={"enrolled": False, "reason": reason})


def add_note(actor: User, user: User, body: str) -> StaffNote:
    """A staff note on the account (audited: who wrote what about whom)."""
    if not has_permission(actor, "users.view"):
        raise PermissionDenied("Your role does not allow this action.")
    body = (body or "").strip()
    if not body:
        raise ValidationFailed("Write the note.", {"body": ["Write the note."]})
    with unit_of_work() as uow:
        note = StaffNote(user_id=user.id, author_id=actor.id, body=body[:2000])
        db.session.add(note)
        db.session.flush()
        audit.record(actor, "user.note_added", user, after={"note_id": note.id, "body": body[:200]})
        uow.keep(note)
    return note


def notes(user: User, limit: int = 50) -> list[StaffNote]:
    return list(
        db.session.scalars(
            select(StaffNote)
            .where(StaffNote.user_id == user.id)
            .order_by(StaffNote.created_at.desc(), StaffNote.id.desc())
            .limit(limit)
        )
    )


# -- logins and the session check ------------------------------------------------------------------


def record_login(user_id: int, channel: str, ip: str, user_agent: str) -> None:
    """Remember a successful login for the user 360 (time, IP, user agent)."""
    with unit_of_work():
        db.session.add(
            LoginEvent(
                user_id=user_id, channel=channel[:10], ip_address=(ip or "")[:45], user_agent=(user_agent or "")[:300]
            )
        )


def logins(user: User, limit: int = 20) -> list[LoginEvent]:
    return list(
        db.session.scalars(
            select(LoginEvent)
            .where(LoginEvent.user_id == user.id)
            .order_by(LoginEvent.created_at.desc(), LoginEvent.id.desc())
            .limit(limit)
        )
    )


def session_valid(user_id: int, started_at: float | str | None) -> bool:
    """Whether a session or token that started at ``started_at`` (epoch seconds) outlived a revocation.

    A session that does not say when it started (older than this check) ends at the first revocation.
    """
    control = compliance.account_control(user_id)
    if control is None or control.sessions_revoked_at is None:
        return True
    try:
        started = float(started_at)
    except (TypeError, ValueError):
        return False
    return datetime.fromtimestamp(started, UTC) > control.sessions_revoked_at


def record_export(actor: User, what: str, filters: dict) -> None:
    """A CSV export of customer data is a staff action: audited with its filters."""
    with unit_of_work():
        audit.record(actor, f"export.{what}", after={"filters": filters})
