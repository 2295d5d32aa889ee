"""Order execution: fills against the book, the trigger check of resting orders, one transaction each.

Each fill spends part of the order's hold in one journal entry (the customer against the
``trading`` counterparty, the fee to ``fees``), writes a Trade, a history line and the position,
in the transaction of the caller (placing) or of :func:`execute_resting` (a tick crossed the
order). Resting limit, stop-loss and take-profit orders are found by :func:`crossed_order_ids`
through the ``ix_orders_live_trigger`` index (pair, trigger key, trigger price), so a tick costs
what it crosses, not what is open; each is re-checked under its row lock, so a repeated check is
harmless.

Lock order everywhere: the order row, then wallets by id, then platform accounts, then the position.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from flask import current_app
from sqlalchemy import bindparam, select

from tradeapp import realtime
from tradeapp.currencies import get_currency
from tradeapp.extensions import db
from tradeapp.models import Order, PlatformAccount, Trade, TradingPair, Transaction, Wallet
from tradeapp.models.trading import LIVE_STATUSES
from tradeapp.models.types import utcnow
from tradeapp.services import ledger, notifications
from tradeapp.services.ledger import Leg
from tradeapp.services.trading import fills, positions
from tradeapp.services.trading.fills import ZERO, price_step, quantity_step
from tradeapp.services.uow import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)

#: how many crossed orders one trigger check settles before it schedules another
TRIGGER_BATCH = 500
BOOK_DEPTH = 20
#: called as ``listener(order, uow)`` at the end of every order transaction (placing, a fill of a
#: resting order, cancelling): other domains react to orders (copy trading) without trading importing them
ORDER_LISTENERS: list = []


# -- triggers ------------------------------------------------------------------------------------


def trigger_key(order_type: str, side: str) -> str:
    """Which price a resting order watches and which way it must cross (see TRIGGER_KEYS).

    Buys watch the ask, sells the bid. A limit buy fills when the ask falls to its price, a limit
    sell when the bid rises to it; a stop-loss fires when the price moves against the holder
    (sell: bid falls to the stop; buy: ask rises to it), a take-profit when it moves in favour.
    """
    down = {"limit": side == "buy", "stop_loss": side == "sell", "take_profit": side == "buy"}[order_type]
    return f"{side}_{'down' if down else 'up'}"


def trigger_price_of(order: Order) -> Decimal:
    return order.price if order.order_type == "limit" else order.stop_price


def is_crossed(key: str, trigger: Decimal, bid: Decimal, ask: Decimal) -> bool:
    """True when the quote crosses a resting order's trigger."""
    reference = ask if key.startswith("buy") else bid
    if reference is None:
        return False
    return reference <= trigger if key.endswith("down") else reference >= trigger


def crossed_order_ids(pair_id: int, bid: Decimal, ask: Decimal, limit: int = TRIGGER_BATCH) -> list[int]:
    """Ids of the pair's live orders whose trigger the quote crossed, best price first.

    Four range scans of ``ix_orders_live_trigger`` (one per trigger key): the cost grows with the
    number of crossed orders, not with the number of open ones.
    """
    ids: list[int] = []
    live = Order.status.in_(LIVE_STATUSES)
    for key, reference in (("buy_down", ask), ("sell_up", bid), ("sell_down", bid), ("buy_up", ask)):
        if reference is None:
            continue
        condition = Order.trigger_price >= reference if key.endswith("down") else Order.trigger_price <= reference
        best_first = Order.trigger_price.desc() if key.endswith("down") else Order.trigger_price.asc()
        query = (
            select(Order.id)
            .where(Order.pair_id == pair_id, Order.trigger_key == key, live, condition)
            .order_by(best_first, Order.id)
            .limit(limit - len(ids))
        )
        ids.extend(db.session.scalars(query))
        if len(ids) >= limit:
            break
    return ids


# -- one order transaction ------------------------------------------------------------------------------


#: called with ``(trade, fees account, fee posted to it)`` for every fill that charged a fee, inside the fill's
#: transaction; the referral programme registers its commission accrual here (a callback, so
#: trading does not import the domains that listen to it)
FEE_HOOKS: list[Callable[[Trade, PlatformAccount, Decimal], object]] = []
#: called with the user ids of many fills about to be booked together (a copy-trading batch), before
#: their FEE_HOOKS calls, so a hook can read what it needs for all of them at once
FEE_HOOK_PRIMERS: list[Callable[[list[int]], object]] = []


@dataclass
class Outcome:
    """What one order transaction has locked and learnt; its events go to the unit of work."""

    uow: UnitOfWork
    #: the owner's (quote, base) wallets of the pair, once locked in this transaction
    wallets: tuple[Wallet, Wallet] | None = None
    #: exact cumulative notional per order, once known in this transaction
    notional: dict[int, Decimal] = field(default_factory=dict)


def lock_pair_wallets(user_id: int, pair: TradingPair) -> tuple[Wallet, Wallet]:
    """The user's quote and base wallets of ``pair``, locked together in id order.

    Every order path takes both before touching either (a buy's hold is in the quote wallet, a
    sell's in the base one), so a buy and a sell of the same user never lock them in opposite orders.
    """
    locked = ledger.lock_user_wallets(user_id, (pair.quote_currency, pair.base_currency))
    return locked[pair.quote_currency], locked[pair.base_currency]


def lock_order(order_id: int, user_id: int | None = None) -> Order | None:
    query = select(Order).where(Order.id == order_id)
    if user_id is not None:
        query = query.where(Order.user_id == user_id)
    return db.session.scalar(query.with_for_update().execution_options(populate_existing=True))


def _exact_notional(order: Order, outcome: Outcome) -> Decimal:
    """Σ quantity × price of the order's fills so far (unrounded)."""
    if order.id not in outcome.notional:
        rows = db.session.execute(select(Trade.quantity, Trade.price).where(Trade.order_id == order.id))
        outcome.notional[order.id] = sum((q * p for q, p in rows), ZERO)
    return outcome.notional[order.id]


# Built once (building and hashing a statement costs about as much as running it); ``fees`` in the
# base currency may come along and is not used.
_PLATFORM_ACCOUNTS = select(PlatformAccount).where(
    PlatformAccount.code.in_(("trading", "fees")), PlatformAccount.currency.in_(bindparam("currencies", expanding=True))
)


def platform_accounts(pair: TradingPair) -> tuple[PlatformAccount, PlatformAccount, PlatformAccount]:
    """The ``trading`` accounts in the pair's quote and base currencies and ``fees`` in its quote (one query)."""
    wanted = [("trading", pair.quote_currency), ("trading", pair.base_currency), ("fees", pair.quote_currency)]
    found = {
        (a.code, a.currency): a
        for a in db.session.scalars(_PLATFORM_ACCOUNTS, {"currencies": [pair.quote_currency, pair.base_currency]})
    }
    return tuple(found.get(key) or ledger.platform_account(*key) for key in wanted)


def settle_fill(order: Order, fill: fills.Fill, liquidity: str, outcome: Outcome) -> Trade | None:
    """Book one fill: ledger entry out of the order's hold, Trade, history line, position."""
    pair = order.pair
    quote_quantum = get_currency(pair.quote_currency).quantum
    fee_pct = pair.maker_fee if liquidity == "maker" else pair.taker_fee
    before = _exact_notional(order, outcome)
    after = before + fill.quantity * fill.price
    notional, fee = fills.charge(before, after, fee_pct, order.side, quote_quantum)
    hold = order.hold
    if order.side == "buy" and notional + fee > hold.remaining:
        log.error("order %s: fill of %s would exceed its hold; skipped", order.id, notional + fee)
        return None

    if outcome.wallets is None:
        outcome.wallets = lock_pair_wallets(order.user_id, pair)
    user_quote, user_base = outcome.wallets
    trading_quote, trading_base, fees = platform_accounts(pair)
    memo = f"{order.side.title()} {fill.quantity:f} {pair.symbol} @ {fill.price:f} (order {order.id})"
    if order.side == "buy":
        legs = [Leg(trading_base, -fill.quantity), Leg(user_base, fill.quantity)]
        if notional:
            legs.append(Leg(trading_quote, notional))
        if fee:
            legs.append(Leg(fees, fee))
        entry = ledger.settle_hold(hold, notional + fee, legs, kind="trade", memo=memo, reference=f"order:{order.id}")
    else:
        fee = min(fee, notional)
        legs = [Leg(trading_base, fill.quantity)]
        if notional:
            legs.append(Leg(trading_quote, -notional))
        if notional - fee:
            legs.append(Leg(user_quote, notional - fee))
        if fee:
            legs.append(Leg(fees, fee))
        entry = ledger.settle_hold(hold, fill.quantity, legs, kind="trade", memo=memo, reference=f"order:{order.id}")

    now = utcnow()
    outcome.notional[order.id] = after
    order.filled_quantity = order.filled_quantity + fill.quantity
    order.fee = order.fee + fee
    order.average_price = (after / order.filled_quantity).quantize(fills.PRICE_QUANTUM)
    order.transition_to("filled" if order.filled_quantity == order.quantity else "partially_filled")
    if order.status == "filled":
        order.executed_at = now
        order.trigger_key = order.trigger_price = None
    trade = Trade(
        order_id=order.id,
        user_id=order.user_id,
        pair_id=pair.id,
        side=order.side,
        quantity=fill.quantity,
        price=fill.price,
        notional=notional,
        fee=fee,
        liquidity=liquidity,
        entry_id=entry.id,
        executed_at=now,
    )
    db.session.add(trade)
    db.session.flush()
    if fee:
        for hook in FEE_HOOKS:
            hook(trade, fees, fee)
    position = positions.apply_fill(order.user_id, pair, order.side, fill.quantity, fill.price, fee)
    if order.side == "sell":
        trade.realized_pnl = position.last_realized
    if notional:
        db.session.add(
            Transaction(
                user_id=order.user_id,
                transaction_type="trade",
                currency=pair.quote_currency,
                amount=notional,
                fee=fee,
                status="completed",
                reference_id=f"TRD-{trade.id}",
                direction=-1 if order.side == "buy" else 1,
                notes=memo,
                entry_id=entry.id,
                created_at=now,
                completed_at=now,
            )
        )
    outcome.uow.emit_to_user(order.user_id, "trade", realtime.trade_payload(trade, pair))
    outcome.uow.emit_to_user(order.user_id, "position", realtime.position_payload(position, pair))
    return trade


def execute(order: Order, book: dict, cap: Decimal | None, liquidity: str, outcome: Outcome) -> list[Trade]:
    levels = book["asks"] if order.side == "buy" else book["bids"]
    planned = fills.walk_book(levels, order.remaining_quantity, order.side, cap, quantity_step(order.pair))
    trades = []
    for fill in planned:
        trade = settle_fill(order, fill, liquidity, outcome)
        if trade is None:
            break
        trades.append(trade)
    return trades


def market_cap(order: Order, book: dict) -> Decimal | None:
    """The worst price a market execution may reach: best price ± ORDER_MAX_SLIPPAGE (and the stop's cover)."""
    slippage = current_app.config["ORDER_MAX_SLIPPAGE"]
    pstep = price_step(order.pair)
    if order.side == "buy":
        if not book["asks"]:
            return None
        cap = (book["asks"][0][0] * (1 + slippage)).quantize(pstep, ROUND_DOWN)
        if order.stop_price is not None:
            cap = min(cap, stop_cover(order.stop_price, pstep))
        return cap
    if not book["bids"]:
        return None
    return (book["bids"][0][0] * (1 - slippage)).quantize(pstep, ROUND_DOWN) + pstep


def stop_cover(stop_price: Decimal, pstep: Decimal) -> Decimal:
    return (stop_price * (1 + current_app.config["ORDER_MAX_SLIPPAGE"])).quantize(pstep, ROUND_DOWN)


def finish_market(order: Order, nothing_reason: str) -> None:
    """A market execution is over: cancel what did not fill and give back the unused hold."""
    if order.status != "filled":
        order.transition_to("cancelled" if order.filled_quantity > 0 else "rejected")
        order.status_reason = (
            f"Only {order.filled_quantity.normalize():f} could fill within the slippage limit; the rest was cancelled."
            if order.filled_quantity > 0
            else nothing_reason
        )
        order.executed_at = order.executed_at or utcnow()
    order.trigger_key = order.trigger_price = None
    release_rest(order)


def release_rest(order: Order) -> None:
    hold = order.hold
    if hold is not None and hold.status == "active" and hold.remaining > 0:
        ledger.release_hold(hold)


def announce(outcome: Outcome, order: Order) -> Order:
    """The order's and its wallets' events for after the commit; what this transaction wrote stays loaded."""
    uow = outcome.uow
    uow.emit_to_user(order.user_id, "order", realtime.order_payload(order, order.pair))
    wallets = outcome.wallets or db.session.scalars(
        select(Wallet).where(
            Wallet.user_id == order.user_id,
            Wallet.currency.in_([order.pair.base_currency, order.pair.quote_currency]),
        )
    )
    for wallet in wallets:
        uow.emit_to_user(order.user_id, "wallet_updated", realtime.wallet_payload(wallet))
    # the caller answers with these without reading them back
    uow.keep(order, order.pair, *(outcome.wallets or ()))
    for listener in ORDER_LISTENERS:
        listener(order, uow)
    return order


# -- resting orders --------------------------------------------------------------------------------


def execute_resting(order_id: int, quote: dict, book: dict) -> bool:
    """Fill a resting order if the quote crossed its trigger (own transaction; safe to repeat)."""
    with unit_of_work() as uow:
        outcome = Outcome(uow)
        order = lock_order(order_id)
        if order is None or not order.is_live or order.trigger_key is None:
            uow.rollback()
            return False
        if not is_crossed(order.trigger_key, order.trigger_price, quote["bid"], quote["ask"]):
            uow.rollback()
            return False
        outcome.wallets = lock_pair_wallets(order.user_id, order.pair)
        if order.order_type == "limit":
            trades = execute(order, book, order.price, "maker", outcome)
            if order.status == "filled":
                release_rest(order)
            if not trades:
                uow.rollback()
                return False
        else:
            order.triggered_at = utcnow()
            execute(order, book, market_cap(order, book), "taker", outcome)
            finish_market(order, "Triggered, but no offers were within the slippage limit; the order was cancelled.")
        db.session.flush()
        announce(outcome, order)
        if order.status == "filled":
            notify_filled(order)
        return True


def notify_filled(order: Order, reason: str | None = None) -> None:
    """Tell the customer that an order they are not watching filled (a resting limit, a stop, a
    position's stop-loss or take-profit): one row in the fill's unit of work. A market order the
    customer just placed is answered on screen and is not notified."""
    pair = order.pair
    price = order.average_price
    at = f" at {price.normalize():f} {pair.quote_currency}" if price is not None else ""
    kind_text = order.order_type.replace("_", " ").capitalize()
    notifications.notify(
        order.user_id,
        notifications.ORDER_FILLED,
        f"{kind_text} order filled: {order.side} {order.filled_quantity.normalize():f} {pair.base_currency}{at}",
        f"{reason}: order #{order.id} on {pair.symbol} filled."
        if reason
        else f"Order #{order.id} on {pair.symbol} filled.",
        link="/trade/orders/history",
        data={"order_id": order.id, "symbol": pair.symbol, "side": order.side, "order_type": order.order_type},
    )
