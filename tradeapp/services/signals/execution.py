"""What a customer sees of signals, and one-click execution through the normal order path.

A user sees a signal when one of their current subscriptions (active or cancelled, not past
``expires_at``) is to a plan the signal was sent to. Executing one:

- ``buy``/``sell`` with ``quantity`` (base) or ``amount`` (quote, converted at the entry price):
  a market order when the market is within ``SIGNAL_ENTRY_TOLERANCE_PCT`` of the entry, else a
  limit order at the entry; placed by :func:`tradeapp.services.trading.orders.place_order` with
  ``source='signal'``. A filled buy gets the signal's stop-loss and take-profit on its position at
  once; a resting one gets them when it fills (the lifecycle job). Positions are long only, so a
  sell signal sells what the user holds and protects nothing.
- ``close``: closes the user's position in the pair at market.

The delivery row is marked ``acted_on`` with the order. Without access: 403, as in the seed.
"""

import logging
from decimal import ROUND_DOWN, Decimal

from flask import current_app
from sqlalchemy import exists, select
from sqlalchemy.dialects import postgresql, sqlite

from tradeapp import realtime
from tradeapp.errors import IllegalTransition, NotFound, PermissionDenied, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import Order, Position, SignalNotification, SignalPlanLink, SignalSubscription, TradingSignal, User
from tradeapp.models.signals import CURRENT_STATUSES
from tradeapp.models.types import utcnow
from tradeapp.services.trading import fills, orders, prices
from tradeapp.services.uow import unit_of_work

log = logging.getLogger(__name__)

DEFAULT_TOLERANCE_PCT = Decimal("0.5")


def tolerance_pct() -> Decimal:
    return Decimal(str(current_app.config.get("SIGNAL_ENTRY_TOLERANCE_PCT", DEFAULT_TOLERANCE_PCT)))


# -- visibility ------------------------------------------------------------------------------------


def _access_clause(user_id: int):
    """SQL: the signal went to a plan the user has current access to."""
    now = utcnow()
    return exists().where(
        SignalPlanLink.signal_id == TradingSignal.id,
        SignalSubscription.plan_id == SignalPlanLink.plan_id,
        SignalSubscription.user_id == user_id,
        SignalSubscription.status.in_(CURRENT_STATUSES),
        SignalSubscription.expires_at > now,
    )


def signals_query(user: User, *, status: str | None = None, pair_id: int | None = None):
    """The user's visible signals, newest first."""
    query = select(TradingSignal).where(_access_clause(user.id)).order_by(TradingSignal.id.desc())
    if status:
        query = query.where(TradingSignal.status == status)
    if pair_id:
        query = query.where(TradingSignal.pair_id == pair_id)
    return query


def can_see(user: User, signal_id: int) -> bool:
    return bool(db.session.scalar(select(exists().where(TradingSignal.id == signal_id, _access_clause(user.id)))))


def get_signal(user: User, signal_id: int) -> TradingSignal:
    """:raise NotFound: no such signal, or not one the user's subscriptions cover."""
    signal = db.session.scalar(select(TradingSignal).where(TradingSignal.id == signal_id, _access_clause(user.id)))
    if signal is None:
        raise NotFound("No such signal.")
    return signal


def delivery_for(user: User, signal_id: int) -> SignalNotification | None:
    return db.session.scalar(
        select(SignalNotification).where(
            SignalNotification.signal_id == signal_id, SignalNotification.user_id == user.id
        )
    )


# -- delivery rows (the seed's signal-notifications) -----------------------------------------------


def notifications_query(user: User):
    return (
        select(SignalNotification).where(SignalNotification.user_id == user.id).order_by(SignalNotification.id.desc())
    )


def get_notification(user: User, note_id: int) -> SignalNotification:
    note = db.session.scalar(
        select(SignalNotification).where(SignalNotification.id == note_id, SignalNotification.user_id == user.id)
    )
    if note is None:
        raise NotFound("No such signal notification.")
    return note


def mark_read(user: User, note_id: int) -> SignalNotification:
    """Mark one of the user's signal deliveries read (again is harmless)."""
    with unit_of_work() as uow:
        note = get_notification(user, note_id)
        if note.read_at is None:
            note.read_at = utcnow()
        uow.keep(note)
    return note


def mark_signal_read(user: User, signal_id: int) -> None:
    """Opening a signal's page reads its delivery row (if the user had one)."""
    with unit_of_work():
        db.session.execute(
            SignalNotification.__table__.update()
            .where(
                SignalNotification.signal_id == signal_id,
                SignalNotification.user_id == user.id,
                SignalNotification.read_at.is_(None),
            )
            .values(read_at=utcnow())
        )


def _delivery_row(user_id: int, signal_id: int) -> SignalNotification:
    """The user's delivery row for the signal, created if they subscribed after it went out."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(
        insert(SignalNotification)
        .values(signal_id=signal_id, user_id=user_id, sent_at=utcnow(), acted_on=False, protection_pending=False)
        .on_conflict_do_nothing(index_elements=["signal_id", "user_id"])
    )
    return db.session.scalar(
        select(SignalNotification)
        .where(SignalNotification.signal_id == signal_id, SignalNotification.user_id == user_id)
        .with_for_update()
    )


# -- execution -------------------------------------------------------------------------------------


def _load_for_execution(user: User, signal_id: int) -> TradingSignal:
    signal = db.session.get(TradingSignal, signal_id)
    if signal is None:
        raise NotFound("No such signal.")
    if not can_see(user, signal_id):
        raise PermissionDenied("No active subscription for this signal.", code="no_active_subscription")
    if signal.status != "active" or signal.valid_until <= utcnow():
        raise IllegalTransition(f"This signal is no longer active ({signal.status.replace('_', ' ')}).")
    return signal


def plan_order(user: User, signal: TradingSignal, data: dict) -> dict:
    """The order a buy/sell execution would place: side, type, quantity, price (for the preview and execute).

    :raise ValidationFailed: neither or both of quantity and amount, bad numbers, the market already
        past the signal's stop-loss or take-profit
    """
    pair = signal.pair
    errors: dict[str, list[str]] = {}
    has_qty = data.get("quantity") not in (None, "")
    has_amount = data.get("amount") not in (None, "")
    if has_qty == has_amount:
        message = "Send either quantity (in the base currency) or amount (in the quote currency)."
        raise ValidationFailed(message, {"quantity": [message], "amount": [message]})
    quote = prices.live_quote(pair)
    market_price = quote["ask"] if signal.signal_type == "buy" else quote["bid"]
    if market_price is None:
        raise ValidationFailed("There is no price to trade at right now.", {"quantity": ["No offers."]})
    if has_qty:
        quantity = fills.parse_number(data.get("quantity"), "quantity", errors)
    else:
        amount = fills.parse_number(data.get("amount"), "amount", errors)
        quantity = None
        if amount is not None:
            quantity = (amount / signal.entry_price).quantize(fills.quantity_step(pair), ROUND_DOWN)
            if quantity <= 0:
                errors["amount"] = ["Too small for one quantity step at the entry price."]
    if errors:
        raise ValidationFailed("Please correct the highlighted fields.", errors)
    bid = quote["bid"]
    if signal.signal_type == "buy" and bid is not None:
        if signal.stop_loss is not None and bid <= signal.stop_loss:
            raise ValidationFailed(
                "The market is already at or below the signal's stop-loss.", code="signal_past_levels"
            )
        if signal.take_profit is not None and bid >= signal.take_profit:
            raise ValidationFailed("The market already reached the signal's take-profit.", code="signal_past_levels")
    drift = abs(market_price - signal.entry_price) * 100 / signal.entry_price
    at_market = drift <= tolerance_pct()
    order = {
        "trading_pair": pair.id,
        "side": signal.signal_type,
        "order_type": "market" if at_market else "limit",
        "quantity": format(quantity, "f"),
    }
    if not at_market:
        order["price"] = format(signal.entry_price.quantize(fills.price_step(pair)), "f")
    return {"order": order, "market_price": market_price, "drift_pct": drift.quantize(Decimal("0.01"))}


def preview(user: User, signal_id: int, data: dict) -> dict:
    """What executing would do now (nothing is written): the order and its cost, or the position to close."""
    signal = _load_for_execution(user, signal_id)
    if signal.signal_type == "close":
        position = _open_position(user, signal)
        db.session.rollback()
        return {"signal": signal, "close": position}
    planned = plan_order(user, signal, data)
    quote = orders.preview_order(user, planned["order"])
    return {"signal": signal, "close": None, **planned, "preview": quote}


def _open_position(user: User, signal: TradingSignal) -> Position:
    position = db.session.scalar(
        select(Position).where(Position.user_id == user.id, Position.pair_id == signal.pair_id, Position.quantity > 0)
    )
    if position is None:
        raise ValidationFailed(f"You have no open {signal.pair.symbol} position to close.", code="no_position")
    return position


def execute(user: User, signal_id: int, data: dict) -> Order:
    """Place the signal's order for ``user`` (see the module doc); returns the order.

    :raise NotFound: no such signal
    :raise PermissionDenied: no current subscription covering it (403)
    :raise IllegalTransition: the signal is no longer active
    :raise ValidationFailed / InsufficientFunds / MarketStale: as the order service says
    """
    signal = _load_for_execution(user, signal_id)
    if signal.signal_type == "close":
        position = _open_position(user, signal)
        db.session.rollback()
        order = orders.close_position(user, position.id)
        _mark_acted(user.id, signal_id, order, protect=False)
        return order
    planned = plan_order(user, signal, data)
    with unit_of_work() as uow:
        order = orders.place_order(user, planned["order"], source="signal", source_id=signal.id)
        protect = signal.signal_type == "buy" and (signal.stop_loss is not None or signal.take_profit is not None)
        if protect and order.filled_quantity > 0:
            position = db.session.scalar(
                select(Position)
                .where(Position.user_id == user.id, Position.pair_id == signal.pair_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            position.stop_loss = signal.stop_loss
            position.take_profit = signal.take_profit
            position.updated_at = utcnow()
            uow.emit_to_user(user.id, "position", realtime.position_payload(position, signal.pair))
        note = _delivery_row(user.id, signal.id)
        note.acted_on = True
        note.order_id = order.id
        note.protection_pending = protect and order.is_live
        if note.read_at is None:
            note.read_at = utcnow()
        uow.keep(order)
    log.info("user %s executed signal %s: order %s (%s)", user.id, signal_id, order.id, order.status)
    return order


def _mark_acted(user_id: int, signal_id: int, order: Order, *, protect: bool) -> None:
    with unit_of_work():
        note = _delivery_row(user_id, signal_id)
        note.acted_on = True
        note.order_id = order.id
        note.protection_pending = protect
