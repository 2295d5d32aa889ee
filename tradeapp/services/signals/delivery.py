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

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from tradeapp import realtime
from tradeapp.extensions import db
from tradeapp.models import SignalNotification, SignalPlanLink, SignalSubscription, TradingSignal
from tradeapp.models.signals import CURRENT_STATUSES
from tradeapp.models.types import utcnow
from tradeapp.services.notifications import notify_many
from tradeapp.services.signals.kinds import SIGNAL_PUBLISHED
from tradeapp.services.uow import unit_of_work

log = logging.getLogger(__name__)

_CHUNK = 1000
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


def recipients(signal_id: int) -> list[int]:
    """Users with current access to a plan the signal went to, each once, by id."""
    now = utcnow()
    plan_ids = select(SignalPlanLink.plan_id).where(SignalPlanLink.signal_id == signal_id)
    return list(
        db.session.scalars(
            select(SignalSubscription.user_id)
            .where(
                SignalSubscription.plan_id.in_(plan_ids),
                SignalSubscription.status.in_(CURRENT_STATUSES),
                SignalSubscription.expires_at > now,
            )
            .distinct()
            .order_by(SignalSubscription.user_id)
        )
    )


def _insert_rows(signal_id: int, user_ids: list[int], now) -> list[int]:
    """Insert the delivery rows that do not exist yet; returns the users that were new."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    new: list[int] = []
    for start in range(0, len(user_ids), _CHUNK):
        rows = [
            {"signal_id": signal_id, "user_id": uid, "sent_at": now, "acted_on": False, "protection_pending": False}
            for uid in user_ids[start : start + _CHUNK]
        ]
        stmt = (
            insert(SignalNotification)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["signal_id", "user_id"])
            .returning(SignalNotification.user_id)
        )
        new.extend(db.session.execute(stmt).scalars())
    return new


def _emit(user_ids: list[int], payload: dict) -> None:
    realtime.publish_all([(EVENT, payload, realtime.user_room(uid)) for uid in user_ids])


def fan_out(signal_id: int) -> int:
    """Deliver the signal to its subscribers who do not have it yet; returns how many were reached."""
    users = recipients(signal_id)
    with unit_of_work() as uow:
        signal = db.session.get(TradingSignal, signal_id)
        if signal is None:
            uow.rollback()
            return 0
        now = utcnow()
        new_users = _insert_rows(signal_id, users, now) if users else []
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
    log.info(
        "signal %s delivered to %d users (%d already had it)", signal_id, len(new_users), len(users) - len(new_users)
    )
    return len(new_users)
