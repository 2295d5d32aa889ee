"""Fan-out: a published signal reaches every subscriber whose current plan received it, once.

One job per signal. Who gets it: users with a subscription (active or cancelled, not past
``expires_at``) to a plan the signal was linked to; a user with two such plans is one user. For
each of them, in one transaction: a ``SignalNotification`` row (unique per signal and user), a
notification-centre entry (``notify_many``, deduplicated by ``signal:<id>``) and, after the
commit, the seed's Socket.IO ``trading_signal`` event on ``user:<id>``. Rows are inserted with
``ON CONFLICT DO NOTHING RETURNING``, so a re-run (a retried or duplicated job) reaches only
those a killed run missed, and nobody twice.
"""

import logging
from decimal import Decimal
from typing import Any

from sqlalchemy import false, literal, select, true
from sqlalchemy.dialects import postgresql, sqlite

from tradeapp import realtime
from tradeapp.extensions import db
from tradeapp.models import SignalNotification, SignalPlanLink, SignalSubscription, TradingSignal
from tradeapp.models.signals import CURRENT_STATUSES
from tradeapp.models.types import UTCDateTime, utcnow
from tradeapp.services.notifications import notify_many
from tradeapp.services.signals.kinds import SIGNAL_PUBLISHED
from tradeapp.services.uow import unit_of_work

log = logging.getLogger(__name__)

EVENT = "trading_signal"


def _str(value, places: int = 2) -> str | None:
    """Decimals as strings at ``places`` decimals, missing values as null (never ``"None"``)."""
    return None if value is None else format(value.quantize(Decimal(1).scaleb(-places)), "f")


def signal_payload(signal: TradingSignal) -> dict[str, Any]:
    """The seed's ``trading_signal`` payload, plus where to see it."""
    places = signal.pair.price_precision
    return {
        "id": signal.id,
        "trading_pair": signal.pair.symbol,
        "type": signal.signal_type,
        "entry_price": _str(signal.entry_price, places),
        "stop_loss": _str(signal.stop_loss, places),
        "take_profit": _str(signal.take_profit, places),
        "confidence": _str(signal.confidence),
        "analysis": signal.analysis,
        "timeframe": signal.timeframe,
        "provider": signal.provider.name,
        "status": signal.status,
        "created_at": signal.created_at.isoformat() if signal.created_at else None,
        "link": f"/signals/{signal.id}",
    }


def _recipients_query(signal_id: int, now):
    """Users with current access to a plan the signal went to (each once)."""
    plan_ids = select(SignalPlanLink.plan_id).where(SignalPlanLink.signal_id == signal_id)
    return (
        select(SignalSubscription.user_id)
        .where(
            SignalSubscription.plan_id.in_(plan_ids),
            SignalSubscription.status.in_(CURRENT_STATUSES),
            SignalSubscription.expires_at > now,
        )
        .distinct()
    )


def recipients(signal_id: int) -> list[int]:
    """Users with current access to a plan the signal went to, each once, by id."""
    return sorted(db.session.scalars(_recipients_query(signal_id, utcnow())))


def _insert_rows(signal_id: int, now) -> list[int]:
    """One ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING``: the delivery rows that did not
    exist yet, for every current recipient; returns the users that were new.

    One statement whatever the audience: nothing is compiled or sent per user.
    """
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    audience = _recipients_query(signal_id, now).subquery()
    source = select(
        literal(signal_id).label("signal_id"),
        audience.c.user_id,
        literal(now, UTCDateTime()).label("sent_at"),
        false().label("acted_on"),
        false().label("protection_pending"),
    ).where(true())  # SQLite needs a WHERE to read ON CONFLICT after INSERT … SELECT
    stmt = (
        insert(SignalNotification)
        .from_select(["signal_id", "user_id", "sent_at", "acted_on", "protection_pending"], source)
        .on_conflict_do_nothing(index_elements=["signal_id", "user_id"])
        .returning(SignalNotification.user_id)
    )
    return sorted(db.session.execute(stmt).scalars())


def _emit(user_ids: list[int], payload: dict) -> None:
    realtime.publish_all([(EVENT, payload, realtime.user_room(uid)) for uid in user_ids])


def fan_out(signal_id: int) -> int:
    """Deliver the signal to its subscribers who do not have it yet; returns how many were reached."""
    with unit_of_work() as uow:
        signal = db.session.get(TradingSignal, signal_id)
        if signal is None:
            uow.rollback()
            return 0
        now = utcnow()
        new_users = _insert_rows(signal_id, now)
        if new_users:
            symbol = signal.pair.symbol
            places = signal.pair.price_precision
            price = _str(signal.entry_price, places)
            title = f"{signal.provider.name}: {signal.signal_type.upper()} {symbol} at {price}"
            parts = []
            if signal.stop_loss is not None:
                parts.append(f"SL {_str(signal.stop_loss, places)}")
            if signal.take_profit is not None:
                parts.append(f"TP {_str(signal.take_profit, places)}")
            parts.append(f"confidence {_str(signal.confidence)}%")
            notify_many(
                new_users,
                SIGNAL_PUBLISHED,
                title,
                ", ".join(parts),
                link=f"/signals/{signal.id}",
                data={"signal_id": signal.id},
                dedupe_key=f"signal:{signal.id}",
            )
            uow.after_commit(_emit, new_users, signal_payload(signal))
        if signal.delivered_at is None:
            signal.delivered_at = now
    log.info("signal %s delivered to %d users", signal_id, len(new_users))
    return len(new_users)
