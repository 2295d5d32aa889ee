"""E-mailed withdrawal confirmation: the hold is placed at once, the request reaches the staff queue
only after the customer clicks the link, and an unconfirmed request expires after 30 minutes,
releasing its hold (a periodic job; running it twice changes nothing).
"""

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import exists, select

from tradeapp.errors import IllegalTransition, ValidationFailed
from tradeapp.extensions import db
from tradeapp.mail import public_url
from tradeapp.models import User, Withdrawal, WithdrawalConfirmation
from tradeapp.models.types import utcnow
from tradeapp.services import audit
from tradeapp.services.uow import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)


def lifetime() -> timedelta:
    return timedelta(minutes=float(current_app.config["WITHDRAWAL_CONFIRMATION_MINUTES"]))


def _hash(token: str) -> str:
    return hashlib.sha256((token or "").encode()).hexdigest()


def unconfirmed_clause():
    """SQL: this withdrawal still waits for its e-mailed confirmation (the staff queue leaves it out)."""
    return exists(
        select(WithdrawalConfirmation.withdrawal_id).where(
            WithdrawalConfirmation.withdrawal_id == Withdrawal.id, WithdrawalConfirmation.confirmed_at.is_(None)
        )
    )


def create(uow: UnitOfWork, user: User, w: Withdrawal) -> WithdrawalConfirmation:
    """Ask for confirmation of a new withdrawal (inside its unit of work); the link is e-mailed after commit.

    The link is security mail: it goes out whatever the notification preferences say.
    """
    token = secrets.token_urlsafe(32)
    row = WithdrawalConfirmation(
        withdrawal_id=w.id, user_id=user.id, token_hash=_hash(token), expires_at=utcnow() + lifetime()
    )
    db.session.add(row)
    db.session.flush()
    minutes = int(lifetime().total_seconds() // 60)
    uow.mail(
        user.email,
        "Confirm your withdrawal",
        "withdrawal_confirm",
        user=user,
        withdrawal=w,
        minutes=minutes,
        link=public_url("account_security.withdrawal_confirm", token=token),
    )
    return row


def pending_for(w: Withdrawal) -> WithdrawalConfirmation | None:
    row = db.session.get(WithdrawalConfirmation, w.id)
    return row if row is not None and row.confirmed_at is None and row.expired_at is None else None


def find(token: str) -> WithdrawalConfirmation:
    row = db.session.scalar(select(WithdrawalConfirmation).where(WithdrawalConfirmation.token_hash == _hash(token)))
    if row is None:
        raise ValidationFailed("This confirmation link is invalid.", code="token_invalid")
    return row


def confirm(token: str) -> Withdrawal:
    """The customer confirms: the withdrawal enters the staff queue. Confirming twice is harmless.

    :raise ValidationFailed: unknown link (``token_invalid``), too late (``confirmation_expired``)
    :raise IllegalTransition: the withdrawal was cancelled meanwhile
    """
    row = find(token)
    with unit_of_work() as uow:
        row = db.session.get(WithdrawalConfirmation, row.withdrawal_id, with_for_update=True, populate_existing=True)
        w = db.session.get(Withdrawal, row.withdrawal_id, with_for_update=True, populate_existing=True)
        if row.confirmed_at is not None:
            uow.keep(w)
            return w
        if row.expired_at is not None or row.expires_at <= utcnow():
            raise ValidationFailed(
                "This confirmation link has expired; the withdrawal was cancelled and its funds released.",
                code="confirmation_expired",
            )
        if w.status != "pending":
            raise IllegalTransition(f"This withdrawal is {w.status}; there is nothing to confirm.")
        row.confirmed_at = utcnow()
        audit.record(w.user, "withdrawal.confirmed", w, after={"confirmed": True})
        uow.changed.add(Withdrawal)  # the staff queue's counter now counts it
        uow.emit_to_user(w.user_id, "withdrawal_status", {"id": w.id, "status": w.status, "confirmed": True})
        uow.keep(w)
    return w


def expire_due(now: datetime | None = None, batch: int = 500) -> int:
    """Cancel withdrawals whose confirmation expired, releasing their holds; returns how many.

    Each in its own transaction under row locks (``skip_locked``: two runs share the work), and a
    row is marked expired with its withdrawal, so a rerun or a late click finds nothing to do.
    """
    from tradeapp.services import withdrawals  # noqa: PLC0415 - withdrawals imports this module

    now = now or utcnow()
    ids = db.session.scalars(
        select(WithdrawalConfirmation.withdrawal_id)
        .where(
            WithdrawalConfirmation.confirmed_at.is_(None),
            WithdrawalConfirmation.expired_at.is_(None),
            WithdrawalConfirmation.expires_at <= now,
        )
        .order_by(WithdrawalConfirmation.expires_at)
        .limit(batch)
    ).all()
    db.session.rollback()
    done = 0
    for withdrawal_id in ids:
        with unit_of_work() as uow:
            row = db.session.scalar(
                select(WithdrawalConfirmation)
                .where(
                    WithdrawalConfirmation.withdrawal_id == withdrawal_id,
                    WithdrawalConfirmation.confirmed_at.is_(None),
                    WithdrawalConfirmation.expired_at.is_(None),
                )
                .with_for_update(skip_locked=True)
                .execution_options(populate_existing=True)
            )
            if row is None:
                uow.rollback()
                continue
            row.expired_at = now
            withdrawals.expire_unconfirmed(uow, withdrawal_id)
            done += 1
    if done:
        log.info("expired %d unconfirmed withdrawals", done)
    return done
