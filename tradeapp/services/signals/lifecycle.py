"""Signal outcomes from platform prices, never the provider's word.

The lifecycle job walks each active signal's pair through the platform's own 1-minute candles
that started after the signal was published, then its latest quote (the tick between bars):

- buy: a low at or below the stop-loss is ``hit_sl``; a high at or above the take-profit ``hit_tp``;
- sell: a high at or above the stop-loss is ``hit_sl``; a low at or below the take-profit ``hit_tp``;
- a bar that reaches both is counted as the stop-loss (the conservative reading);
- past ``valid_until`` (the timeframe's validity) it is ``expired`` at the last price seen.

The decision, ``closed_at``, the exit price and the R multiple are written once (the state machine
refuses a second move), the provider's track record is recomputed, and the users it was delivered
to are told. The same job attaches a signal's stop-loss and take-profit to positions opened by
executions that rested as limit orders and have since filled.
"""

import logging
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select

from tradeapp import realtime
from tradeapp.extensions import db
from tradeapp.models import Candle, Order, Position, SignalNotification, TradingSignal
from tradeapp.models.types import utcnow
from tradeapp.services.notifications import notify_many
from tradeapp.services.signals import record
from tradeapp.services.signals.kinds import SIGNAL_OUTCOME
from tradeapp.services.trading import prices
from tradeapp.services.uow import unit_of_work

log = logging.getLogger(__name__)

BAR_MS = 60_000
LABELS = {"hit_tp": "hit its take-profit", "hit_sl": "hit its stop-loss", "expired": "expired"}


def r_multiple(signal: TradingSignal, exit_price: Decimal) -> Decimal | None:
    """The gain from entry to ``exit_price`` in units of the risk (entry to stop-loss)."""
    if signal.stop_loss is None or signal.signal_type not in ("buy", "sell"):
        return None
    direction = 1 if signal.signal_type == "buy" else -1
    risk = (signal.entry_price - signal.stop_loss) * direction
    if risk <= 0:
        return None
    return ((exit_price - signal.entry_price) * direction / risk).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def decide(signal: TradingSignal, high: Decimal, low: Decimal) -> tuple[str, Decimal] | None:
    """The outcome a price range [low, high] decides for the signal, with its exit price; or None."""
    if signal.signal_type == "buy":
        if signal.stop_loss is not None and low <= signal.stop_loss:
            return "hit_sl", signal.stop_loss
        if signal.take_profit is not None and high >= signal.take_profit:
            return "hit_tp", signal.take_profit
    elif signal.signal_type == "sell":
        if signal.stop_loss is not None and high >= signal.stop_loss:
            return "hit_sl", signal.stop_loss
        if signal.take_profit is not None and low <= signal.take_profit:
            return "hit_tp", signal.take_profit
    return None


def _bars_after(signal: TradingSignal, now: datetime) -> list[Candle]:
    created_ms = int(signal.created_at.timestamp() * 1000)
    first = -(-created_ms // BAR_MS) * BAR_MS  # the first bar that started at or after publication
    last = int(min(now, signal.valid_until).timestamp() * 1000)
    return list(
        db.session.scalars(
            select(Candle)
            .where(
                Candle.pair_id == signal.pair_id,
                Candle.timeframe == "1m",
                Candle.open_time >= first,
                Candle.open_time < last,
            )
            .order_by(Candle.open_time)
        )
    )


def _tick(signal: TradingSignal) -> Decimal | None:
    """The pair's latest traded price (or mid), if the feed has one."""
    try:
        quote = prices.live_quote(signal.pair, fresh=False)
    except Exception:  # noqa: BLE001 - no quote is "no news", never an error for the job
        return None
    if quote.get("last") is not None:
        return quote["last"]
    if quote.get("bid") is not None and quote.get("ask") is not None:
        return (quote["bid"] + quote["ask"]) / 2
    return quote.get("bid") or quote.get("ask")


def evaluate(signal_id: int, now: datetime | None = None) -> str | None:
    """Decide one active signal's outcome if the prices say so; returns the new status or None."""
    now = now or utcnow()
    with unit_of_work() as uow:
        signal = db.session.scalar(
            select(TradingSignal)
            .where(TradingSignal.id == signal_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if signal is None or signal.status != "active":
            uow.rollback()
            return None
        outcome = None
        last_seen = None
        for bar in _bars_after(signal, now):
            last_seen = bar.close
            outcome = decide(signal, bar.high, bar.low)
            if outcome:
                break
        if outcome is None and now < signal.valid_until:
            tick = _tick(signal)
            if tick is not None:
                last_seen = tick
                outcome = decide(signal, tick, tick)
        if outcome is None and now >= signal.valid_until:
            outcome = ("expired", last_seen)
        if outcome is None:
            uow.rollback()
            return None
        status, exit_price = outcome
        signal.transition_to(status)
        signal.closed_at = now
        signal.exit_price = exit_price
        signal.r_multiple = r_multiple(signal, exit_price) if exit_price is not None else None
        record.refresh_provider(signal.provider_id)
        users = list(
            db.session.scalars(select(SignalNotification.user_id).where(SignalNotification.signal_id == signal.id))
        )
        if users:
            r = f" ({signal.r_multiple:+.2f}R)" if signal.r_multiple is not None else ""
            notify_many(
                users,
                SIGNAL_OUTCOME,
                f"{signal.signal_type.upper()} {signal.pair.symbol} {LABELS[status]}{r}",
                f"{signal.provider.name}'s signal #{signal.id} {LABELS[status]}.",
                link=f"/signals/{signal.id}",
                data={"signal_id": signal.id, "status": status},
                dedupe_key=f"signal:{signal.id}:outcome",
            )
        uow.emit_to_staff("signal_outcome", {"id": signal.id, "status": status})
    log.info("signal %s %s at %s", signal_id, status, exit_price)
    return status


def attach_pending_protection() -> int:
    """Give positions opened by a filled signal limit order the signal's stop-loss and take-profit."""
    pending = list(
        db.session.execute(
            select(SignalNotification.id, SignalNotification.order_id).where(SignalNotification.protection_pending)
        ).all()
    )
    done = 0
    for note_id, order_id in pending:
        with unit_of_work() as uow:
            note = db.session.scalar(
                select(SignalNotification).where(SignalNotification.id == note_id).with_for_update()
            )
            order = db.session.get(Order, order_id) if order_id else None
            if note is None or not note.protection_pending:
                uow.rollback()
                continue
            if order is None or order.status in ("cancelled", "rejected") or order.filled_quantity <= 0:
                if order is None or not order.is_live:
                    note.protection_pending = False  # nothing was bought: nothing to protect
                else:
                    uow.rollback()
                continue
            position = db.session.scalar(
                select(Position)
                .where(Position.user_id == note.user_id, Position.pair_id == order.pair_id)
                .with_for_update()
            )
            if position is not None and position.quantity > 0:
                signal = note.signal
                position.stop_loss = signal.stop_loss
                position.take_profit = signal.take_profit
                position.updated_at = utcnow()
                uow.emit_to_user(note.user_id, "position", realtime.position_payload(position, position.pair))
                done += 1
            if not order.is_live:
                note.protection_pending = False
    db.session.rollback()
    return done


def run(now: datetime | None = None) -> dict[str, int]:
    """The lifecycle job: decide every active signal the prices decided, then attach pending protection."""
    ids = list(
        db.session.scalars(select(TradingSignal.id).where(TradingSignal.status == "active").order_by(TradingSignal.id))
    )
    db.session.rollback()
    counts: dict[str, int] = {"hit_tp": 0, "hit_sl": 0, "expired": 0, "protected": 0}
    for signal_id in ids:
        status = evaluate(signal_id, now)
        if status:
            counts[status] += 1
    counts["protected"] = attach_pending_protection()
    return counts
