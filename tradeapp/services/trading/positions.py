"""Positions: what each customer holds from trading a pair (spot, long only, leverage 1).

Fills update the position in the fill's transaction (:func:`apply_fill`): buys grow it at a
volume-weighted entry price, sells shrink it and realise P&L against that entry. A position may
carry a stop-loss and a take-profit (:func:`set_protection`); the trigger check finds the crossed
ones through partial indexes (:func:`crossed_position_ids`) and closes them at market, once
(:func:`tradeapp.services.trading.orders.fire_protection`: closing a position is placing an order).
"""

import logging
from collections.abc import Callable, Sequence
from decimal import Decimal

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm.attributes import set_committed_value

from tradeapp import realtime
from tradeapp.currencies import get_currency
from tradeapp.errors import IllegalTransition, NotFound, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import Position, TradingPair, User
from tradeapp.models.types import utcnow
from tradeapp.services.rows import upsert_insert
from tradeapp.services.trading import fills, prices
from tradeapp.services.trading.fills import ZERO
from tradeapp.services.uow import unit_of_work

log = logging.getLogger(__name__)


# Built once: on the hot path, building and hashing a statement costs about as much as running it.
_LOCK_POSITION = (
    select(Position)
    .where(Position.user_id == bindparam("user_id"), Position.pair_id == bindparam("pair_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


def _lock(user_id: int, pair_id: int) -> Position:
    """The user's position in the pair, created (race-safely) and locked."""
    params = {"user_id": user_id, "pair_id": pair_id}
    position = db.session.scalar(_LOCK_POSITION, params)
    if position is None:
        now = utcnow()
        db.session.execute(
            upsert_insert(Position)
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
        position = db.session.scalar(_LOCK_POSITION, params)
    return position


def ensure_positions(user_ids: list[int], pair_id: int) -> None:
    """Create the users' (empty) positions in the pair that do not exist yet, in one statement (a fan-out's setup)."""
    if not user_ids:
        return
    now = utcnow()
    rows = [
        {
            "user_id": u,
            "pair_id": pair_id,
            "side": "long",
            "quantity": ZERO,
            "entry_price": ZERO,
            "realized_pnl": ZERO,
            "leverage": Decimal(1),
            "opened_at": now,
            "updated_at": now,
        }
        for u in sorted(set(user_ids))
    ]
    # executemany: one cached statement, not a VALUES list compiled anew for each size
    db.session.execute(
        upsert_insert(Position.__table__).on_conflict_do_nothing(index_elements=["user_id", "pair_id"]), rows
    )


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


_TABLE = Position.__table__
#: the columns a fill changes, written by one statement (built once)
_FILL_COLUMNS = ("quantity", "entry_price", "realized_pnl", "opened_at", "stop_loss", "take_profit", "updated_at")
_UPDATE_AFTER_FILLS = _TABLE.update().where(_TABLE.c.id == bindparam("p_id"))


def apply_fills(
    user_id: int,
    pair: TradingPair,
    side: str,
    fills_done: Sequence[tuple[Decimal, Decimal, Decimal]],
    on_step: Callable[[Position], object] | None = None,
) -> Position:
    """:func:`apply_fill` for the ``(quantity, price, fee)`` fills of one order, in order: the
    position is locked once and written by one UPDATE.

    After each fill ``position.last_realized`` is that fill's realised P&L (None for a buy) and
    ``on_step(position)`` is called, so callers see the position exactly as each fill left it.
    """
    position = _lock(user_id, pair.id)
    set_committed_value(position, "pair", pair)
    quantum = get_currency(pair.quote_currency).quantum
    for quantity, price, fee in fills_done:
        now = utcnow()
        values = {"updated_at": now}
        if side == "buy":
            if position.quantity <= 0:
                values["opened_at"] = now
            values["quantity"], values["entry_price"] = fills.after_buy(
                position.quantity, position.entry_price, quantity, price
            )
            realized = None
        else:
            values["quantity"], realized = fills.after_sell(
                position.quantity, position.entry_price, quantity, price, fee, quantum
            )
            values["realized_pnl"] = position.realized_pnl + realized
            if values["quantity"] <= 0:
                values["stop_loss"] = values["take_profit"] = None
        for key, value in values.items():
            set_committed_value(position, key, value)
        position.last_realized = realized
        if on_step is not None:
            on_step(position)
    if fills_done:
        row = {key: getattr(position, key) for key in _FILL_COLUMNS}
        db.session.execute(_UPDATE_AFTER_FILLS, {"p_id": position.id, **row})
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
    rows = []
    total_value = unrealized = realized = ZERO
    rates: dict[str, prices.Rate | None] = {}

    def usd(amount: Decimal, currency: str) -> Decimal:
        if currency not in rates:
            rates[currency] = prices.rate(currency, "USD")
        if rates[currency] is None:
            return ZERO
        return prices.convert(amount, currency, "USD", at=rates[currency]).amount

    for position in db.session.scalars(positions_query(user, open_only=False)):
        value = valuation(position) if position.quantity > 0 else None
        quote_currency = position.pair.quote_currency
        realized += usd(position.realized_pnl, quote_currency)
        if value is None:
            continue
        rows.append((position, value))
        if value["market_value"] is not None:
            total_value += usd(value["market_value"], quote_currency)
            unrealized += usd(value["unrealized_pnl"], quote_currency)
    return {"positions": rows, "total_value": total_value, "unrealized_pnl": unrealized, "realized_pnl": realized}


# -- protection and closing ------------------------------------------------------------------------


def _protection_price(value, name: str, pair: TradingPair, errors: dict) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = fills.parse_number(value, name, errors)
    step = fills.price_step(pair)
    if number is not None and number != number.quantize(step):
        errors.setdefault(name, []).append(f"Use steps of {step:f} {pair.quote_currency}.")
        return None
    return number


def set_protection(user: User, position_id: int, data: dict) -> Position:
    """Set or clear (empty/None) the position's stop-loss and take-profit (keys not given stay).

    :raise ValidationFailed: not a price, a closed position, or on the wrong side of the bid
    """
    with unit_of_work() as uow:
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
        uow.emit_to_user(user.id, "position", realtime.position_payload(position, pair))
    return position


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
