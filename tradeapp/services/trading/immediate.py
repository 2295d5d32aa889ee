"""Market orders, which execute in full at once: planned first, then written in one pass.

A market order is placed, fills against the book and is finished in the same transaction. The
general path (:func:`tradeapp.services.trading.execution.settle_fill`) holds the money, spends
the hold fill by fill and releases the rest, flushing the order, the hold, the wallets and the
position through the ORM each time (about 21 statements in 8 flushes for one fill). Here the
fills are worked out before anything is written, against the wallets locked with the lookup,
and each row is written once, in its final state:

- the order (filled, cancelled with what filled, or rejected);
- its hold, already closed: ``posted`` with what the fills spent, or ``released`` when nothing
  filled. The wallet's ``locked_balance`` is never raised and lowered again, so its final value
  is the same as on the general path;
- one journal entry per fill, debiting the available balance (which was checked to cover the
  whole hold, as placing the hold would), with the same legs, memo and reference;
- the trades and their history lines, one INSERT each for all fills;
- the position, locked once and updated by one statement.

The rows, ledger entries, events (per fill ``trade`` and ``position``, then ``order`` and both
wallets) and the answer are those of the general path; only the statements differ.
"""

import functools
import logging
from decimal import Decimal

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm.attributes import set_committed_value

from tradeapp import realtime
from tradeapp.currencies import get_currency
from tradeapp.errors import ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import Hold, Order, Trade, Transaction
from tradeapp.models.types import utcnow
from tradeapp.services import ledger
from tradeapp.services.ledger import InsufficientFunds, Leg
from tradeapp.services.rows import attach, bound_values, insert_all
from tradeapp.services.trading import execution, fills, positions
from tradeapp.services.trading.execution import (
    Outcome,
    announce,
    lock_pair_wallets,
    market_cap,
    platform_accounts,
)
from tradeapp.services.trading.fills import ZERO, quantity_step
from tradeapp.services.uow import unit_of_work

log = logging.getLogger(__name__)

NO_OFFERS = "No offers within the slippage limit; nothing was bought or sold."

_ORDERS = Order.__table__
# the same updated_at as inserted (not the column's onupdate): the answer shows what is stored
_SET_HOLD = (
    _ORDERS.update()
    .where(_ORDERS.c.id == bindparam("o_id"))
    .values(hold_id=bindparam("h_id"), updated_at=bindparam("at"))
)


def place_market(
    user_id: int,
    req,
    book: dict,
    *,
    source: str,
    source_id: int | None = None,
    position_id: int | None = None,
) -> Order:
    """Place and execute the market order ``req`` (an ``OrderRequest``) against ``book``; one unit of work.

    :raise ValidationFailed: a buy with no offers at all
    :raise InsufficientFunds: the available balance does not cover what the order may spend
    """
    pair = req.pair
    quote_quantum = get_currency(pair.quote_currency).quantum
    with unit_of_work() as uow:
        outcome = Outcome(uow)
        order = Order(
            user_id=user_id,
            pair_id=pair.id,
            order_type="market",
            side=req.side,
            quantity=req.quantity,
            price=None,
            stop_price=None,
            source=source,
            source_id=source_id,
            position_id=position_id,
            trigger_key=None,
            trigger_price=None,
            triggered_at=None,
        )
        order.pair = pair
        cap = market_cap(order, book)
        if req.side == "buy":
            if cap is None:
                raise ValidationFailed("There is no liquidity to buy from right now.", {"quantity": ["No offers."]})
            amount = fills.buy_hold(req.quantity, cap, pair.taker_fee, quote_quantum)
        else:
            amount = req.quantity

        # The wallets, locked with the lookup; the whole hold must be available, as placing it requires.
        outcome.wallets = quote_wallet, base_wallet = lock_pair_wallets(user_id, pair)
        wallet = quote_wallet if req.side == "buy" else base_wallet
        if wallet.balance - wallet.locked_balance < amount:
            raise InsufficientFunds(
                f"Insufficient available {req.spends} balance: this order needs {amount.normalize():f} {req.spends}.",
                {"quantity": [f"Needs {amount.normalize():f} {req.spends}; more than you have available."]},
            )

        # Plan: each fill's notional and fee on the order's cumulative notional, as settle_fill charges them.
        levels = book["asks"] if req.side == "buy" else book["bids"]
        planned = []
        exact = spent = filled = fee_total = ZERO
        for fill in fills.walk_book(levels, req.quantity, req.side, cap, quantity_step(pair)):
            after = exact + fill.quantity * fill.price
            notional, fee = fills.charge(exact, after, pair.taker_fee, req.side, quote_quantum)
            if req.side == "buy" and notional + fee > amount - spent:
                log.error("order of user %s: fill of %s would exceed its hold; skipped", user_id, notional + fee)
                break
            if req.side == "sell":
                fee = min(fee, notional)
            exact = after
            spent += notional + fee if req.side == "buy" else fill.quantity
            filled += fill.quantity
            fee_total += fee
            planned.append((fill, notional, fee, _progress(req.quantity, filled, fee_total, exact)))

        now = utcnow()
        final = _progress(req.quantity, filled, fee_total, exact)
        if filled == req.quantity:
            status_reason = ""
        elif filled > 0:
            final["status"] = "cancelled"
            status_reason = f"Only {filled.normalize():f} could fill within the slippage limit; the rest was cancelled."
        else:
            final["status"], status_reason = "rejected", NO_OFFERS
        for key, value in final.items():
            setattr(order, key, value)
        order.status_reason = status_reason
        order.created_at = order.updated_at = order.executed_at = now
        hold = Hold(
            wallet_id=wallet.id,
            reason="order",
            amount=amount,
            remaining=ZERO,
            posted_total=spent,
            status="posted" if spent > 0 else "released",
            created_at=now,
            closed_at=now,
        )
        _insert_order_and_hold(order, hold)
        set_committed_value(order, "hold", hold)
        outcome.notional[order.id] = exact

        if planned:
            _book_fills(order, wallet, planned, now, outcome)
        db.session.flush()
        announce(outcome, order)
    return order


# On PostgreSQL the order and its hold go in one statement: the order takes the hold's id from
# its sequence and the hold takes the order's id in its reference.
_ORDER_AND_HOLD = """
WITH o AS (
    INSERT INTO orders ({order_columns}, hold_id)
    VALUES ({order_values}, nextval(pg_get_serial_sequence('holds', 'id')))
    RETURNING id, hold_id
), h AS (
    INSERT INTO holds (id, reference, {hold_columns})
    SELECT o.hold_id, 'order:' || o.id, {hold_values} FROM o
)
SELECT id, hold_id FROM o
"""


def _insert_order_and_hold(order: Order, hold: Hold) -> None:
    """INSERT the new ``order`` and its ``hold`` (every column but ids, the hold's reference and the
    order's ``hold_id`` set); both become persistent, linked as the general path links them."""
    session = db.session()
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        order.hold_id = None
        insert_all([order])
        hold.reference = f"order:{order.id}"
        insert_all([hold])
        session.execute(_SET_HOLD, {"o_id": order.id, "h_id": hold.id, "at": order.updated_at})
        set_committed_value(order, "hold_id", hold.id)
        return
    order_values, order_columns = bound_values(order, dialect)
    hold_values, hold_columns = bound_values(hold, dialect)
    params = {f"o_{c}": v for c, v in zip(order_columns, order_values, strict=True)}
    params.update({f"h_{c}": v for c, v in zip(hold_columns, hold_values, strict=True)})
    statement = _order_and_hold_statement(tuple(order_columns), tuple(hold_columns))
    session.flush()  # rows the order references (its position) may still be pending
    order_id, hold_id = session.connection().exec_driver_sql(statement, params).one()
    attach(order, id=order_id, hold_id=hold_id)
    attach(hold, id=hold_id, reference=f"order:{order_id}")


@functools.cache
def _order_and_hold_statement(order_columns: tuple[str, ...], hold_columns: tuple[str, ...]) -> str:
    casts = {c.name: c.type.compile(dialect=postgresql.dialect()) for c in Hold.__table__.columns}
    # column names from the models' metadata, never from input
    return _ORDER_AND_HOLD.format(
        order_columns=", ".join(order_columns),
        order_values=", ".join(f"%(o_{c})s" for c in order_columns),
        hold_columns=", ".join(hold_columns),
        hold_values=", ".join(f"%(h_{c})s::{casts[c]}" for c in hold_columns),
    )


def _progress(quantity: Decimal, filled: Decimal, fee: Decimal, exact: Decimal) -> dict:
    """The order's fill columns after fills of ``filled`` (cumulative) at ``exact`` notional."""
    return {
        "filled_quantity": filled,
        "fee": fee,
        "average_price": (exact / filled).quantize(fills.PRICE_QUANTUM) if filled else None,
        "status": "filled" if filled == quantity else ("partially_filled" if filled else "open"),
    }


def _book_fills(order: Order, wallet, planned: list, now, outcome: Outcome) -> None:
    """The fills' entries (one each), trades, history lines and position, and their events."""
    pair = order.pair
    user_quote, user_base = outcome.wallets
    trading_quote, trading_base, fees = platform_accounts(pair)
    trades, memos = [], []
    for fill, notional, fee, _ in planned:
        memo = f"{order.side.title()} {fill.quantity:f} {pair.symbol} @ {fill.price:f} (order {order.id})"
        if order.side == "buy":
            legs = [Leg(wallet, -(notional + fee)), Leg(trading_base, -fill.quantity), Leg(user_base, fill.quantity)]
            if notional:
                legs.append(Leg(trading_quote, notional))
        else:
            legs = [Leg(wallet, -fill.quantity), Leg(trading_base, fill.quantity)]
            if notional:
                legs.append(Leg(trading_quote, -notional))
            if notional - fee:
                legs.append(Leg(user_quote, notional - fee))
        if fee:
            legs.append(Leg(fees, fee))
        entry = ledger.post("trade", legs, memo=memo, reference=f"order:{order.id}")
        trade = Trade(
            order_id=order.id,
            user_id=order.user_id,
            pair_id=pair.id,
            side=order.side,
            quantity=fill.quantity,
            price=fill.price,
            notional=notional,
            fee=fee,
            liquidity="taker",
            realized_pnl=None,
            entry_id=entry.id,
            external_trade_id="",
            executed_at=now,
        )
        trade.order, trade.pair = order, pair
        trades.append(trade)
        memos.append(memo)

    # The position as each fill leaves it: a sell's trade records what that fill realised.
    steps: list[dict] = []

    def step(position) -> None:
        trade = trades[len(steps)]
        if order.side == "sell":
            trade.realized_pnl = position.last_realized
        steps.append(realtime.position_payload(position, pair))

    positions.apply_fills(
        order.user_id, pair, order.side, [(f.quantity, f.price, fee) for f, _, fee, _ in planned], on_step=step
    )
    insert_all(trades)
    for trade, (_, _, fee, _) in zip(trades, planned, strict=True):
        if fee:
            for hook in execution.FEE_HOOKS:  # read at call time: hooks register after import
                hook(trade, fees, fee)
    history = [
        Transaction(
            user_id=order.user_id,
            transaction_type="trade",
            currency=pair.quote_currency,
            amount=trade.notional,
            fee=trade.fee,
            status="completed",
            reference_id=f"TRD-{trade.id}",
            external_id="",
            counterparty_id=None,
            direction=-1 if order.side == "buy" else 1,
            notes=memo,
            entry_id=trade.entry_id,
            created_at=now,
            completed_at=now,
        )
        for trade, memo in zip(trades, memos, strict=True)
        if trade.notional
    ]
    insert_all(history)
    # Each ``trade`` event shows its order as that fill left it (as settle_fill's do): partly filled,
    # without the reason a finished market order gets.
    final = {
        key: getattr(order, key)
        for key in ("filled_quantity", "fee", "average_price", "status", "status_reason", "executed_at")
    }
    for trade, position_payload, (_, _, _, progress) in zip(trades, steps, planned, strict=True):
        for key, value in progress.items():
            set_committed_value(order, key, value)
        set_committed_value(order, "executed_at", final["executed_at"] if progress["status"] == "filled" else None)
        set_committed_value(order, "status_reason", "")
        outcome.uow.emit_to_user(order.user_id, "trade", realtime.trade_payload(trade, pair))
        outcome.uow.emit_to_user(order.user_id, "position", position_payload)
    for key, value in final.items():
        set_committed_value(order, key, value)
