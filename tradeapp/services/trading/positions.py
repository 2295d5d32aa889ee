"""Positions: what each customer holds from trading a pair (spot, long only, leverage 1).

Fills update the position in the fill's transaction (:func:`apply_fill`): buys grow it at a
volume-weighted entry price, sells shrink it and realise P&L against that entry. A position may
carry a stop-loss and a take-profit (:func:`set_protection`); the trigger check finds the crossed
ones through partial indexes and closes them at market, once (:func:`fire_protection`).
"""

import logging
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import or_, select

from tradeapp import realtime
from tradeapp.currencies import get_currency
from tradeapp.errors import IllegalTransition, NotFound, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import Order, Position, TradingPair, User, Wallet
from tradeapp.models.types import utcnow
from tradeapp.services.ledger import _insert
from tradeapp.services.trading import fills, prices
from tradeapp.services.trading.fills import ZERO

log = logging.getLogger(__name__)


def _lock(user_id: int, pair_id: int) -> Position:
    """The user's position in the pair, created (race-safely) and locked."""
    query = (
        select(Position)
        .where(Position.user_id == user_id, Position.pair_id == pair_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    position = db.session.scalar(query)
    if position is None:
        now = utcnow()
        db.session.execute(
            _insert(Position)
            .values(
                user_id=user_id,
                pair_id=pair_id,
                side="long",
                quantity=ZERO,
                entry_price=ZERO,
                realized_pnl=ZERO,
                leverage=Decimal(1),
                opened_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["user_id", "pair_id"])
        )
        position = db.session.scalar(query)
    return position


def apply_fill(user_id: int, pair: TradingPair, side: str, quantity: Decimal, price: Decimal, fee: Decimal) -> Position:
    """Update the position for one fill (inside the fill's transaction).

    Sets ``position.last_realized`` (not stored) to the P&L this fill realised.
    """
    position = _lock(user_id, pair.id)
    position.pair = pair
    if side == "buy":
        if position.quantity <= 0:
            position.opened_at = utcnow()
        position.quantity, position.entry_price = fills.after_buy(
            position.quantity, position.entry_price, quantity, price
        )
        position.last_realized = None
    else:
        quantum = get_currency(pair.quote_currency).quantum
        position.quantity, realized = fills.after_sell(
            position.quantity, position.entry_price, quantity, price, fee, quantum
        )
        position.realized_pnl = position.realized_pnl + realized
        position.last_realized = realized
        if position.quantity <= 0:
            position.stop_loss = position.take_profit = None
    position.updated_at = utcnow()
    db.session.flush()
    return position


# -- reading -------------------------------------------------------------------------------------


def positions_query(user: User, *, open_only: bool = True):
    """The user's positions by pair symbol (only those with a quantity unless ``open_only`` is false)."""
    query = select(Position).join(TradingPair, TradingPair.id == Position.pair_id).where(Position.user_id == user.id)
    if open_only:
        query = query.where(Position.quantity > 0)
    return query.order_by(TradingPair.symbol)


def get_position(user: User, position_id: int) -> Position:
    position = db.session.scalar(select(Position).where(Position.id == position_id, Position.user_id == user.id))
    if position is None:
        raise NotFound("No such position.")
    return position


def valuation(position: Position, quote: dict | None = None) -> dict:
    """Mark the position at the bid: ``current_price``, ``market_value``, ``unrealized_pnl`` (and %)."""
    pair = position.pair
    if quote is None:
        try:
            quote = prices.live_quote(pair, fresh=False)
        except Exception:  # noqa: BLE001 - no price: the position is shown without a mark
            quote = None
    price = quote.get("bid") if quote else None
    quantum = get_currency(pair.quote_currency).quantum
    if price is None:
        return {"current_price": None, "market_value": None, "unrealized_pnl": None, "unrealized_pnl_pct": None}
    pnl = fills.unrealized(position.quantity, position.entry_price, price).quantize(quantum) + 0  # no -0.00
    cost = position.quantity * position.entry_price
    return {
        "current_price": price,
        "market_value": (position.quantity * price).quantize(quantum),
        "unrealized_pnl": pnl,
        "unrealized_pnl_pct": (pnl / cost * 100).quantize(Decimal("0.01")) if cost else None,
    }


def portfolio(user: User) -> dict:
    """Open positions with their valuations, their total value in USD and P&L totals (in USD)."""
    from tradeapp.services.wallets import usd_value

    rows = []
    total_value = unrealized = realized = ZERO
    for position in db.session.scalars(positions_query(user, open_only=False)):
        value = valuation(position) if position.quantity > 0 else None
        quote_currency = position.pair.quote_currency
        realized += usd_value(quote_currency, position.realized_pnl) or ZERO
        if value is None:
            continue
        rows.append((position, value))
        if value["market_value"] is not None:
            total_value += usd_value(quote_currency, value["market_value"]) or ZERO
            unrealized += usd_value(quote_currency, value["unrealized_pnl"]) or ZERO
    return {"positions": rows, "total_value": total_value, "unrealized_pnl": unrealized, "realized_pnl": realized}


# -- protection and closing ------------------------------------------------------------------------


def _protection_price(value, name: str, pair: TradingPair, errors: dict) -> Decimal | None:
    from tradeapp.services.trading.orders import _number, price_step

    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = _number(value, name, errors)
    step = price_step(pair)
    if number is not None and number != number.quantize(step):
        errors.setdefault(name, []).append(f"Use steps of {step:f} {pair.quote_currency}.")
        return None
    return number


def set_protection(user: User, position_id: int, data: dict) -> Position:
    """Set or clear (empty/None) the position's stop-loss and take-profit (keys not given stay).

    :raise ValidationFailed: not a price, a closed position, or on the wrong side of the bid
    """
    try:
        position = db.session.scalar(
            select(Position)
            .where(Position.id == position_id, Position.user_id == user.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if position is None:
            raise NotFound("No such position.")
        pair = position.pair
        errors: dict[str, list[str]] = {}
        if position.quantity <= 0:
            raise IllegalTransition("This position is closed.")
        values = {}
        for name in ("stop_loss", "take_profit"):
            if name in data:
                values[name] = _protection_price(data[name], name, pair, errors)
        if errors:
            raise ValidationFailed("Please correct the highlighted fields.", errors)
        bid = prices.live_quote(pair, fresh=False)["bid"]
        if bid is None:
            raise ValidationFailed("No bid to check against right now; try again in a moment.")
        if values.get("stop_loss") is not None and values["stop_loss"] >= bid:
            errors["stop_loss"] = [f"A stop-loss must be below the current bid ({bid:f})."]
        if values.get("take_profit") is not None and values["take_profit"] <= bid:
            errors["take_profit"] = [f"A take-profit must be above the current bid ({bid:f})."]
        if errors:
            raise ValidationFailed("Please correct the highlighted fields.", errors)
        for name, value in values.items():
            setattr(position, name, value)
        position.updated_at = utcnow()
        payload = realtime.position_payload(position, pair)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    realtime.emit_to_user(user.id, "position", payload)
    return position


def close_position(user: User, position_id: int) -> Order:
    """Sell the whole position (as much as the wallet has available) at market."""
    position = get_position(user, position_id)
    return _close(user.id, position, source_reason="Closed by you.")


def _close(user_id: int, position: Position, source_reason: str) -> Order:
    from tradeapp.services.trading.orders import OrderRequest, _place, quantity_step

    pair = position.pair
    if position.quantity <= 0:
        raise IllegalTransition("This position is already closed.")
    wallet = db.session.scalar(select(Wallet).where(Wallet.user_id == user_id, Wallet.currency == pair.base_currency))
    available = wallet.available_balance if wallet is not None else ZERO
    quantity = min(position.quantity, available).quantize(quantity_step(pair), rounding=ROUND_DOWN)
    if quantity <= 0:
        raise ValidationFailed(
            "Nothing to close.",
            {"quantity": [f"No {pair.base_currency} of this position is available (open sell orders may hold it)."]},
        )
    request = OrderRequest(pair=pair, side="sell", order_type="market", quantity=quantity)
    db.session.rollback()
    order = _place(user_id, request, source="manual", position_id=position.id)
    log.info("position %s closed by order %s (%s)", position.id, order.id, source_reason)
    return order


def crossed_position_ids(pair_id: int, bid: Decimal) -> list[int]:
    """Open positions of the pair whose stop-loss (bid ≤ stop) or take-profit (bid ≥ target) was hit."""
    query = select(Position.id).where(
        Position.pair_id == pair_id,
        Position.quantity > 0,
        or_(
            Position.stop_loss.is_not(None) & (Position.stop_loss >= bid),
            Position.take_profit.is_not(None) & (Position.take_profit <= bid),
        ),
    )
    return list(db.session.scalars(query))


def fire_protection(position_id: int, bid: Decimal) -> Order | None:
    """Close a position whose stop-loss or take-profit the bid crossed; the protection fires once."""
    try:
        position = db.session.scalar(
            select(Position)
            .where(Position.id == position_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if position is None or position.quantity <= 0:
            db.session.rollback()
            return None
        hit_stop = position.stop_loss is not None and bid <= position.stop_loss
        hit_target = position.take_profit is not None and bid >= position.take_profit
        if not (hit_stop or hit_target):
            db.session.rollback()
            return None
        which = "stop-loss" if hit_stop else "take-profit"
        position.stop_loss = position.take_profit = None
        user_id, pair_id = position.user_id, position.pair_id
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    position = db.session.scalar(select(Position).where(Position.id == position_id))
    log.info("position %s: %s hit at bid %s (pair %s)", position_id, which, bid, pair_id)
    return _close(user_id, position, source_reason=f"{which} hit")
