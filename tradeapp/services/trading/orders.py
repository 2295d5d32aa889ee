"""Orders: placement with a ledger hold, fills against the order book, triggers and cancellation.

Lifecycle::

    open ──fill (part)──▶ partially_filled ──fill (rest)──▶ filled
      │  └──────────────fill (all)───────────────────────────▲
      ├──cancel──▶ cancelled ◀──cancel── partially_filled
      └──(market order that found no liquidity)──▶ cancelled / rejected

Placing an order holds what it may spend: a buy holds quantity × its price cap plus the fee in
the quote currency (the cap is the limit price, or the best ask plus ORDER_MAX_SLIPPAGE for
market orders, or the stop price plus the slippage for stops); a sell holds the base quantity.
Each fill spends part of the hold in one journal entry (user ↔ ``trading`` counterparty, fee to
``fees``), writes a Trade, a history line and the position, all in one transaction. Cancelling
releases exactly what the hold still reserves.

Market orders fill at once by walking the book (VWAP), never past the slippage cap; what cannot
fill is cancelled. Limit orders fill what is marketable at once (taker) and rest; resting limit,
stop-loss and take-profit orders are found on each tick by :func:`check_triggers` through the
``ix_orders_live_trigger`` index (pair, trigger key, trigger price) and settled one order per
transaction, each re-checked under its row lock, so running the check twice is harmless.

Lock order everywhere: the order row, then wallets by id, then platform accounts, then the position.
"""

import logging
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from sqlalchemy import bindparam, select

from tradeapp.currencies import get_currency
from tradeapp.errors import IllegalTransition, NotFound, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import Order, Position, Trade, TradingPair, User, Wallet
from tradeapp.models.trading import LIVE_STATUSES, ORDER_SIDES, ORDER_SOURCES, ORDER_TYPES
from tradeapp.services import audit, compliance, ledger
from tradeapp.services.ledger import InsufficientFunds
from tradeapp.services.trading import fills, immediate, positions, prices
from tradeapp.services.trading.execution import (
    BOOK_DEPTH,
    TRIGGER_BATCH,
    Outcome,
    announce,
    crossed_order_ids,
    execute,
    execute_resting,
    is_crossed,
    lock_order,
    lock_pair_wallets,
    notify_filled,
    price_step,
    quantity_step,
    release_rest,
    stop_cover,
    trigger_key,
    trigger_price_of,
)
from tradeapp.services.trading.fills import ZERO, parse_number
from tradeapp.services.trading.pairs import from_url_symbol
from tradeapp.services.uow import unit_of_work

log = logging.getLogger(__name__)

__all__ = ["check_triggers", "crossed_order_ids", "execute_resting", "is_crossed", "trigger_key"]


# -- validation ----------------------------------------------------------------------------------


@dataclass
class OrderRequest:
    """A checked order: the pair, typed values and the steps they were checked against."""

    pair: TradingPair
    side: str
    order_type: str
    quantity: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None

    @property
    def base(self) -> str:
        return self.pair.base_currency

    @property
    def quote(self) -> str:
        return self.pair.quote_currency

    @property
    def spends(self) -> str:
        """The currency the order holds: quote for buys, base for sells."""
        return self.quote if self.side == "buy" else self.base


_PAIR_BY_SYMBOL = select(TradingPair).where(TradingPair.symbol == bindparam("symbol"))  # built once


def resolve_pair(data: dict) -> TradingPair:
    """The active pair named by ``symbol`` (``BTC-USD`` or ``BTC/USD``) or ``trading_pair`` (an id)."""
    if data.get("trading_pair") not in (None, ""):
        raw = data["trading_pair"]
        text = str(raw) if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
        # ASCII digits only: int() would also read "١" or "1_0"
        pair = db.session.get(TradingPair, int(text)) if text.isascii() and text.isdigit() and len(text) < 19 else None
        if pair is None or not pair.is_active:
            raise ValidationFailed("Invalid input.", {"trading_pair": ["No active trading pair with this id."]})
        return pair
    symbol = from_url_symbol(str(data.get("symbol") or ""))
    if not symbol:
        raise ValidationFailed("Invalid input.", {"symbol": ["Choose a trading pair."]})
    pair = db.session.scalar(_PAIR_BY_SYMBOL, {"symbol": symbol})
    if pair is None or not pair.is_active:
        raise ValidationFailed("Invalid input.", {"symbol": [f"No active trading pair {symbol}."]})
    return pair


def validate(data: dict, pair: TradingPair | None = None) -> OrderRequest:
    """Check an order's fields against the pair's rules; ValidationFailed lists every problem."""
    pair = pair or resolve_pair(data)
    errors: dict[str, list[str]] = {}
    side = str(data.get("side") or "").strip().lower()
    if side not in ORDER_SIDES:
        errors["side"] = ["Choose buy or sell."]
    order_type = str(data.get("order_type") or "market").strip().lower()
    if order_type not in ORDER_TYPES:
        errors["order_type"] = [f"One of {', '.join(ORDER_TYPES)}."]

    quantity = parse_number(data.get("quantity"), "quantity", errors)
    if quantity is None and "quantity" not in errors:
        errors["quantity"] = ["Enter the quantity."]
    if quantity is not None:
        qstep = quantity_step(pair)
        if quantity != quantity.quantize(qstep, ROUND_DOWN):
            errors.setdefault("quantity", []).append(f"At most {-qstep.as_tuple().exponent} decimal places.")
        elif quantity < pair.min_order_size:
            errors.setdefault("quantity", []).append(
                f"At least {pair.min_order_size.normalize():f} {pair.base_currency}."
            )
        elif quantity > pair.max_order_size:
            errors.setdefault("quantity", []).append(
                f"At most {pair.max_order_size.normalize():f} {pair.base_currency}."
            )

    pstep = price_step(pair)
    prices_given = {}
    for name in ("price", "stop_price"):
        value = parse_number(data.get(name), name, errors)
        if value is not None and value != value.quantize(pstep, ROUND_DOWN):
            errors.setdefault(name, []).append(f"Use steps of {pstep:f} {pair.quote_currency}.")
        prices_given[name] = value
    price, stop_price = prices_given["price"], prices_given["stop_price"]
    if order_type == "limit":
        if price is None and "price" not in errors:
            errors["price"] = ["A limit order needs a price."]
        if stop_price is not None:
            errors.setdefault("stop_price", []).append("A limit order takes no stop price.")
    elif order_type in ("stop_loss", "take_profit"):
        if stop_price is None and "stop_price" not in errors:
            errors["stop_price"] = ["Enter the price that triggers this order."]
        if price is not None:
            errors.setdefault("price", []).append(
                "Stop-loss and take-profit orders execute at market; leave price empty."
            )
    elif order_type == "market":
        if price is not None:
            errors.setdefault("price", []).append("A market order takes no price.")
        if stop_price is not None:
            errors.setdefault("stop_price", []).append("A market order takes no stop price.")
    if errors:
        raise ValidationFailed("Please correct the highlighted fields.", errors)
    return OrderRequest(pair, side, order_type, quantity, price, stop_price)


def _check_trigger_side(req: OrderRequest, quote: dict) -> None:
    """A stop or take-profit that would fire at once is refused: the user meant a market order."""
    if req.order_type not in ("stop_loss", "take_profit"):
        return
    reference = quote["bid"] if req.side == "sell" else quote["ask"]
    watched = "bid" if req.side == "sell" else "ask"
    if reference is None:
        return
    key = trigger_key(req.order_type, req.side)
    crossed = req.stop_price >= reference if key.endswith("down") else req.stop_price <= reference
    if crossed:
        where = "below" if key.endswith("down") else "above"
        label = req.order_type.replace("_", "-")
        raise ValidationFailed(
            "Please correct the highlighted fields.",
            {"stop_price": [f"A {req.side} {label} must be {where} the current {watched} ({reference:f})."]},
        )


# -- placing -------------------------------------------------------------------------------------


def preview_order(user: User, data: dict) -> dict:
    """What an order would cost or pay now, for the order form's live total (nothing is written)."""
    req = validate(data)
    pair = req.pair
    quote_quantum = get_currency(pair.quote_currency).quantum
    quote = prices.live_quote(pair, fresh=False)
    if req.order_type == "market":
        book = prices.live_book(pair, BOOK_DEPTH, fresh=False)
        levels = book["asks"] if req.side == "buy" else book["bids"]
        price = fills.vwap(fills.walk_book(levels, req.quantity, req.side, None, quantity_step(pair)))
        price = price or (quote["ask"] if req.side == "buy" else quote["bid"])
    else:
        price = req.price if req.order_type == "limit" else req.stop_price
    # A limit order that does not cross the book rests, and fills as a maker at the maker fee.
    best = quote["ask"] if req.side == "buy" else quote["bid"]
    rests = req.order_type == "limit" and (
        best is None or (req.price < best if req.side == "buy" else req.price > best)
    )
    fee_role = "maker" if rests else "taker"
    fee_pct = pair.maker_fee if rests else pair.taker_fee
    notional = req.quantity * price
    fee = fills.fee_on(notional, fee_pct).quantize(quote_quantum, ROUND_UP)
    notional = notional.quantize(quote_quantum, ROUND_UP if req.side == "buy" else ROUND_DOWN)
    wallet = db.session.scalar(select(Wallet).where(Wallet.user_id == user.id, Wallet.currency == req.spends))
    available = wallet.available_balance if wallet is not None else ZERO
    db.session.rollback()  # a preview writes nothing: end the read transaction
    return {
        "symbol": pair.symbol,
        "side": req.side,
        "order_type": req.order_type,
        "quantity": req.quantity,
        "price": price.quantize(price_step(pair)),
        "notional": notional,
        "fee": fee,
        "fee_pct": fee_pct,
        "fee_role": fee_role,
        "total": notional + fee if req.side == "buy" else notional - fee,
        "currency_spent": req.spends,
        "currency_received": pair.base_currency if req.side == "buy" else pair.quote_currency,
        "available": available,
        "enough": (notional + fee <= available) if req.side == "buy" else req.quantity <= available,
    }


def place_order(user: User, data: dict, *, source: str = "manual", source_id: int | None = None) -> Order:
    """Validate, hold and place an order; market and marketable limit orders fill at once.

    :raise ValidationFailed: bad fields (per field), a stop that would fire at once
    :raise InsufficientFunds: the available balance does not cover the hold
    :raise MarketStale: the pair's prices are too old to trade on
    """
    if source not in ORDER_SOURCES:
        raise ValueError(f"unknown order source {source!r}")
    req = validate(data)
    return place(user.id, req, source=source, source_id=source_id)


def place(
    user_id: int,
    req: OrderRequest,
    *,
    source: str,
    source_id: int | None = None,
    position_id: int | None = None,
    protective: bool = False,
) -> Order:
    """Hold and place an already validated order (placing, closing a position); one unit of work.

    A frozen account cannot trade (whatever the source: manual, bot, copy trade, signal, loan), except
    ``protective`` closes: a stop-loss or take-profit the customer set before the freeze still fires.

    :raise AccountFrozen: 403 when staff froze the account
    """
    if not protective:
        compliance.require_unfrozen(user_id, "trade")
    pair = req.pair
    if req.order_type == "market":
        # Executes at once: planned, then each row written once in its final state.
        _quote, book = prices.live_quote_and_book(pair, BOOK_DEPTH)
        order = immediate.place_market(user_id, req, book, source=source, source_id=source_id, position_id=position_id)
        log.info("order %s: market %s %s %s → %s", order.id, req.side, req.quantity, pair.symbol, order.status)
        return order
    quote = prices.live_quote(pair)
    _check_trigger_side(req, quote)
    best = quote["ask"] if req.side == "buy" else quote["bid"]
    marketable = (
        req.order_type == "limit"
        and best is not None
        and (best <= req.price if req.side == "buy" else best >= req.price)
    )
    book = prices.live_book(pair, BOOK_DEPTH) if marketable else None
    with unit_of_work() as uow:
        outcome = Outcome(uow)
        order = Order(
            user_id=user_id,
            pair_id=pair.id,
            order_type=req.order_type,
            side=req.side,
            quantity=req.quantity,
            price=req.price,
            stop_price=req.stop_price,
            filled_quantity=ZERO,
            fee=ZERO,
            status="open",
            source=source,
            source_id=source_id,
            position_id=position_id,
        )
        order.pair = pair
        db.session.add(order)
        db.session.flush()

        pstep = price_step(pair)
        if req.side == "buy":
            cap = req.price if req.order_type == "limit" else stop_cover(req.stop_price, pstep)
            amount = fills.buy_hold(req.quantity, cap, pair.taker_fee, get_currency(pair.quote_currency).quantum)
        else:
            cap, amount = None, req.quantity
        outcome.wallets = quote_wallet, base_wallet = lock_pair_wallets(user_id, pair)
        outcome.notional[order.id] = ZERO
        wallet = quote_wallet if req.side == "buy" else base_wallet
        try:
            hold = ledger.place_hold(wallet, amount, "order", f"order:{order.id}")
        except InsufficientFunds:
            raise InsufficientFunds(
                f"Insufficient available {req.spends} balance: this order needs {amount.normalize():f} {req.spends}.",
                {"quantity": [f"Needs {amount.normalize():f} {req.spends}; more than you have available."]},
            ) from None
        order.hold_id = hold.id
        order.hold = hold

        if marketable:
            execute(order, book, req.price, "taker", outcome)
        if order.status == "filled":
            release_rest(order)
        else:
            order.trigger_key = trigger_key(req.order_type, req.side)
            order.trigger_price = trigger_price_of(order)
        db.session.flush()
        announce(outcome, order)
    log.info(
        "order %s: %s %s %s %s → %s", order.id, order.order_type, order.side, req.quantity, pair.symbol, order.status
    )
    return order


# -- closing positions ------------------------------------------------------------------------------


def close_position(user: User, position_id: int) -> Order:
    """Sell the whole position (as much as the wallet has available) at market."""
    position = positions.get_position(user, position_id)
    return _close(user.id, position, source_reason="Closed by you.")


def _closable(position: Position, wallet: Wallet | None) -> Decimal:
    """How much of ``position`` a market sell may close: what the base wallet has available."""
    available = wallet.available_balance if wallet is not None else ZERO
    return min(position.quantity, available).quantize(quantity_step(position.pair), rounding=ROUND_DOWN)


def _close(user_id: int, position: Position, source_reason: str) -> Order:
    pair = position.pair
    if position.quantity <= 0:
        raise IllegalTransition("This position is already closed.")
    wallet = db.session.scalar(select(Wallet).where(Wallet.user_id == user_id, Wallet.currency == pair.base_currency))
    quantity = _closable(position, wallet)
    if quantity <= 0:
        raise ValidationFailed(
            "Nothing to close.",
            {"quantity": [f"No {pair.base_currency} of this position is available (open sell orders may hold it)."]},
        )
    request = OrderRequest(pair=pair, side="sell", order_type="market", quantity=quantity)
    db.session.rollback()  # end the read: the order is placed in its own unit of work
    order = place(user_id, request, source="manual", position_id=position.id)
    log.info("position %s closed by order %s (%s)", position.id, order.id, source_reason)
    return order


def fire_protection(position_id: int, bid: Decimal) -> Order | None:
    """Close a position whose stop-loss or take-profit the bid crossed; the protection fires once.

    Clearing the protection and placing the close are one unit of work: if the close cannot be
    placed (nothing available, no liquidity, a failed commit), the protection stays and the next
    tick tries again, so a stop is never lost.
    """
    with unit_of_work() as uow:
        found = db.session.execute(select(Position.user_id, Position.pair_id).where(Position.id == position_id)).first()
        if found is None:
            uow.rollback()
            return None
        pair = db.session.get(TradingPair, found.pair_id)
        # The wallets before the position, in the order a fill takes them: firing during a fill waits.
        _quote_wallet, base_wallet = lock_pair_wallets(found.user_id, pair)
        position = db.session.scalar(
            select(Position)
            .where(Position.id == position_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if position.quantity <= 0:
            uow.rollback()
            return None
        hit_stop = position.stop_loss is not None and bid <= position.stop_loss
        hit_target = position.take_profit is not None and bid >= position.take_profit
        if not (hit_stop or hit_target):
            uow.rollback()
            return None
        which = "stop-loss" if hit_stop else "take-profit"
        quantity = _closable(position, base_wallet)
        if quantity <= 0:
            log.warning(
                "position %s: %s hit but open sell orders hold all of it; kept for the next tick", position_id, which
            )
            uow.rollback()
            return None
        position.stop_loss = position.take_profit = None
        request = OrderRequest(pair=pair, side="sell", order_type="market", quantity=quantity)
        order = place(found.user_id, request, source="manual", position_id=position.id, protective=True)
        if order.status == "filled":
            notify_filled(order, f"Your position's {which} fired")
    log.info("position %s: %s hit at bid %s, closed by order %s", position_id, which, bid, order.id)
    return order


# -- the trigger check -------------------------------------------------------------------------------


def check_triggers(symbol: str, batch: int = TRIGGER_BATCH) -> int:
    """Settle the pair's resting orders (and protected positions) the current quote crossed.

    Returns how many orders executed. Stale prices settle nothing.
    """
    pair = db.session.scalar(select(TradingPair).where(TradingPair.symbol == symbol))
    if pair is None or not pair.is_active:
        return 0
    try:
        quote, book = prices.live_quote_and_book(pair, BOOK_DEPTH)
    except (prices.MarketStale, prices.MarketDataUnavailable) as exc:
        log.warning("trigger check of %s skipped: %s", symbol, exc)
        return 0
    order_ids = crossed_order_ids(pair.id, quote["bid"], quote["ask"], batch)
    position_ids = positions.crossed_position_ids(pair.id, quote["bid"]) if quote["bid"] is not None else []
    db.session.rollback()  # end the read before each order gets its own transaction
    executed = 0
    for order_id in order_ids:
        try:
            executed += execute_resting(order_id, quote, book)
        except Exception:  # noqa: BLE001 - one broken order must not block the others
            log.exception("trigger check: order %s failed", order_id)
    for position_id in position_ids:
        try:
            fire_protection(position_id, quote["bid"])
        except Exception:  # noqa: BLE001
            log.exception("trigger check: position %s failed", position_id)
    return executed


# -- cancelling and reading --------------------------------------------------------------------------


def _cancel(order: Order, reason: str) -> Order:
    if not order.is_live:
        raise IllegalTransition(f"This order is already {order.status.replace('_', ' ')}.")
    release_rest(order)
    order.transition_to("cancelled")
    order.status_reason = reason
    order.trigger_key = order.trigger_price = None
    db.session.flush()
    return order


def cancel_order(user: User, order_id: int) -> Order:
    """Cancel one of the user's live orders, releasing exactly what its hold still reserves.

    :raise NotFound: not the user's order
    :raise IllegalTransition: already filled, cancelled or rejected
    """
    with unit_of_work() as uow:
        order = lock_order(order_id, user.id)
        if order is None:
            raise NotFound("No such order.")
        _cancel(order, "Cancelled by you.")
        announce(Outcome(uow), order)
    return order


def staff_cancel(actor: User, order_id: int, reason: str) -> Order:
    """Staff cancel a customer's live order with a reason (audited)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Give a reason.", {"reason": ["Say why the order is cancelled."]})
    with unit_of_work() as uow:
        order = lock_order(order_id)
        if order is None:
            raise NotFound("No such order.")
        before = order.status
        _cancel(order, f"Cancelled by the broker: {reason[:200]}")
        audit.record(
            actor, "order.cancel", order, before={"status": before}, after={"status": "cancelled", "reason": reason}
        )
        announce(Outcome(uow), order)
    return order


def get_order(user: User, order_id: int) -> Order:
    order = db.session.scalar(select(Order).where(Order.id == order_id, Order.user_id == user.id))
    if order is None:
        raise NotFound("No such order.")
    return order


def orders_query(user: User, *, status: str | None = None, pair: TradingPair | None = None, live: bool | None = None):
    """The user's orders, newest first."""
    query = select(Order).where(Order.user_id == user.id)
    if status:
        query = query.where(Order.status == status)
    if pair is not None:
        query = query.where(Order.pair_id == pair.id)
    if live is True:
        query = query.where(Order.status.in_(LIVE_STATUSES))
    elif live is False:
        query = query.where(Order.status.not_in(LIVE_STATUSES))
    return query.order_by(Order.created_at.desc(), Order.id.desc())


def trades_query(user: User, *, pair: TradingPair | None = None, order_id: int | None = None):
    """The user's fills, newest first."""
    query = select(Trade).where(Trade.user_id == user.id)
    if pair is not None:
        query = query.where(Trade.pair_id == pair.id)
    if order_id is not None:
        query = query.where(Trade.order_id == order_id)
    return query.order_by(Trade.executed_at.desc(), Trade.id.desc())
