"""Copies of a master's market fill for a whole batch of followers, booked set-based in the batch's transaction.

Placing each copy through :func:`tradeapp.services.trading.orders.place` costs some twenty
statements a follower (its order, hold, entry, postings, trade, history line and position one
row at a time). :func:`fill` books the same rows for every planned copy of the batch with a
few statements in all: the orders and trades in one ``INSERT … RETURNING`` each, the holds and
journal entries through :class:`tradeapp.services.ledger.LedgerBatch` (every check of the
one-row ledger calls, made in memory in call order, then one write per table), and the
positions, copied positions, copy rows and subscriptions in one executemany each.

It prices and books a copy exactly as ``place`` fills a market order: the same cap (best price
± ``ORDER_MAX_SLIPPAGE``), a walk of the same book read (the batch's one read of it) for the
copy's own quantity, the same rounding of each fill's notional and fee on the order's cumulative
notional, the same legs, memos and references, the same statuses and reasons, so its rows cannot
be told from a copy placed by ``place`` (``tests/copy_trading/test_copy_batch.py`` compares them).

What it does not take (:class:`Gate`): a follower whose account is frozen (``place`` refuses
it, failing the batch so that each follower is retried alone, as before), an allocation without
an active hold or that a buy would use up to the last cent (the per-follower path closes that
hold and opens a new one). Those go through ``place`` one by one, in the same transaction.
"""

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import bindparam, select
from sqlalchemy.orm.attributes import set_committed_value

from tradeapp import realtime
from tradeapp.currencies import get_currency
from tradeapp.extensions import db
from tradeapp.models import (
    AccountControl,
    CopiedTrade,
    CopyPosition,
    CopySignal,
    CopySubscription,
    Order,
    Position,
    Trade,
    TradingPair,
    Transaction,
    Wallet,
)
from tradeapp.models.types import utcnow
from tradeapp.services import ledger
from tradeapp.services.copy_trading import sizing
from tradeapp.services.ledger import Leg
from tradeapp.services.rows import insert_all
from tradeapp.services.trading import execution, fills
from tradeapp.services.trading.fills import ZERO, Fill
from tradeapp.services.uow import UnitOfWork

log = logging.getLogger(__name__)

_ORDERS = Order.__table__
_POSITIONS = Position.__table__
_COPY_POSITIONS = CopyPosition.__table__
_COPIES = CopiedTrade.__table__
_SUBS = CopySubscription.__table__
_SET_HOLD = _ORDERS.update().where(_ORDERS.c.id == bindparam("o_id")).values(hold_id=bindparam("o_hold"))
_UPDATE_POSITION = _POSITIONS.update().where(_POSITIONS.c.id == bindparam("p_id"))
_UPDATE_COPY_POSITION = _COPY_POSITIONS.update().where(_COPY_POSITIONS.c.id == bindparam("cp_id"))
_UPDATE_COPY = _COPIES.update().where(_COPIES.c.id == bindparam("c_id"))
_UPDATE_SUB = _SUBS.update().where(_SUBS.c.id == bindparam("s_id"))


@dataclass
class Plan:
    """One follower's copy order, sized and checked: what :func:`fill` (or the per-follower path) places."""

    sub: CopySubscription
    copy: CopiedTrade
    side: str
    quantity: Decimal
    quote_wallet: Wallet
    base_wallet: Wallet
    #: the copied position in the pair (a sell's must exist; a buy's may not yet)
    position: CopyPosition | None
    #: a buy's price cap and what it releases from the allocation (its order's hold)
    cap: Decimal | None = None
    released: Decimal = ZERO


@dataclass
class _Booked:
    """One planned copy's order and fills (fill, notional, fee), worked out before anything is written."""

    plan: Plan
    order: Order
    fills: list[tuple[Fill, Decimal, Decimal]] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)


class Gate:
    """Which planned copies of one batch :func:`fill` books (see the module's docstring); it collects them."""

    def __init__(self, follower_ids: Sequence[int], book: dict | None):
        self.book = book
        self.plans: list[Plan] = []
        self._seen = Counter(follower_ids)
        ids = sorted(set(follower_ids))
        self._frozen: set[int] = set()
        if ids and book is not None:
            self._frozen = set(
                db.session.scalars(
                    select(AccountControl.user_id).where(
                        AccountControl.user_id.in_(ids), AccountControl.frozen_at.is_not(None)
                    )
                )
            )

    def take(self, plan: Plan) -> bool:
        """Keep ``plan`` for :func:`fill` if it can be booked there; False: place it one by one."""
        hold = plan.sub.hold
        ok = (
            self.book is not None
            and plan.sub.follower_id not in self._frozen
            and self._seen[plan.sub.follower_id] == 1
            and hold is not None
            and hold.status == "active"
            and plan.position is not None
            and (plan.side == "sell" or plan.released < hold.remaining)
        )
        if ok:
            self.plans.append(plan)
        return ok


def fill(signal: CopySignal, pair: TradingPair, book: dict, plans: Sequence[Plan], uow: UnitOfWork) -> None:
    """Place and fill every planned copy at market against ``book``, set-based, in the caller's unit of work.

    Leaves each plan's copy row, copied position and subscription as the per-follower path
    leaves them, and queues the same ``trade``, ``position``, ``order`` and ``wallet_updated``
    events for after the commit.

    :raise InsufficientFunds: a wallet would go below what is held (the caller's batch fails)
    """
    if not plans:
        return
    now = utcnow()
    side = signal.side
    quantum = get_currency(pair.quote_currency).quantum
    booked = [_work_out(signal, pair, book, plan, now) for plan in plans]

    # The orders first: their ids are in their holds' references and their entries' memos.
    insert_all([b.order for b in booked])
    trading_quote = ledger.platform_account("trading", pair.quote_currency)
    trading_base = ledger.platform_account("trading", pair.base_currency)
    fees_account = ledger.platform_account("fees", pair.quote_currency)
    books = ledger.LedgerBatch(w for p in plans for w in (p.quote_wallet, p.base_wallet))
    holds, entries, moved = [], [], []
    for b in booked:
        plan, order = b.plan, b.order
        allocation = plan.sub.hold
        if side == "buy":
            books.release_hold(allocation, plan.released)  # the allocation's cash becomes the order's hold
            hold = books.place_hold(plan.quote_wallet, plan.released, "order", f"order:{order.id}")
        else:
            hold = books.place_hold(plan.base_wallet, plan.quantity, "order", f"order:{order.id}")
        order_entries = []
        cash = ZERO  # a buy's cost, a sell's proceeds
        for f, notional, fee in b.fills:
            memo = f"{side.title()} {f.quantity:f} {pair.symbol} @ {f.price:f} (order {order.id})"
            if side == "buy":
                legs = [Leg(trading_base, -f.quantity), Leg(plan.base_wallet, f.quantity)]
                if notional:
                    legs.append(Leg(trading_quote, notional))
                if fee:
                    legs.append(Leg(fees_account, fee))
                spent = notional + fee
                cash += spent
            else:
                legs = [Leg(trading_base, f.quantity)]
                if notional:
                    legs.append(Leg(trading_quote, -notional))
                if notional - fee:
                    legs.append(Leg(plan.quote_wallet, notional - fee))
                if fee:
                    legs.append(Leg(fees_account, fee))
                spent = f.quantity
                cash += notional - fee
            order_entries.append(
                books.settle_hold(hold, spent, legs, kind="trade", memo=memo, reference=f"order:{order.id}")
            )
        if hold.status == "active" and hold.remaining > 0:
            books.release_hold(hold)  # finish_market: what did not fill goes back
        back = plan.released - cash if side == "buy" else cash
        if back > 0:
            books.grow_hold(allocation, back)  # unspent cash, or a sale's proceeds, back under the allocation
        holds.append(hold)
        entries.append(order_entries)
        moved.append(cash)
    books.flush()

    db.session.execute(_SET_HOLD, [{"o_id": b.order.id, "o_hold": h.id} for b, h in zip(booked, holds, strict=True)])
    for b, hold in zip(booked, holds, strict=True):
        set_committed_value(b.order, "hold_id", hold.id)

    positions = _lock_positions(pair, [p.sub.follower_id for p in plans])
    trades = []
    for b, order_entries in zip(booked, entries, strict=True):
        position = positions[b.plan.sub.follower_id]
        for (f, notional, fee), entry in zip(b.fills, order_entries, strict=True):
            realized = _apply_fill(position, pair, side, f, fee, quantum, now)
            trade = Trade(
                order_id=b.order.id,
                user_id=b.order.user_id,
                pair_id=pair.id,
                side=side,
                quantity=f.quantity,
                price=f.price,
                notional=notional,
                fee=fee,
                liquidity="taker",
                realized_pnl=realized,
                entry_id=entry.id,
                external_trade_id="",
                executed_at=now,
            )
            trade.order, trade.pair = b.order, pair
            b.trades.append(trade)
            trades.append(trade)
    insert_all(trades)
    charged = sorted({t.user_id for t in trades if t.fee})
    if charged:
        for primer in execution.FEE_HOOK_PRIMERS:
            primer(charged)
    for trade in trades:
        if trade.fee:
            for hook in execution.FEE_HOOKS:
                hook(trade, fees_account, trade.fee)
    history = [
        {
            "user_id": t.user_id,
            "transaction_type": "trade",
            "currency": pair.quote_currency,
            "amount": t.notional,
            "fee": t.fee,
            "status": "completed",
            "reference_id": f"TRD-{t.id}",
            "direction": -1 if side == "buy" else 1,
            "notes": f"{side.title()} {t.quantity:f} {pair.symbol} @ {t.price:f} (order {t.order_id})",
            "entry_id": t.entry_id,
            "created_at": now,
            "completed_at": now,
        }
        for t in trades
        if t.notional
    ]
    if history:
        db.session.execute(Transaction.__table__.insert(), history)
    _write_positions(positions.values(), now)
    _finish_copies(booked, moved, side, quantum, now)
    _announce(booked, positions, pair, uow)


def _work_out(signal: CopySignal, pair: TradingPair, book: dict, plan: Plan, now) -> _Booked:
    """The copy's order as ``place`` leaves a market order, and its fills, in memory (nothing written)."""
    order = Order(
        user_id=plan.sub.follower_id,
        pair_id=pair.id,
        order_type="market",
        side=plan.side,
        quantity=plan.quantity,
        price=None,
        stop_price=None,
        filled_quantity=ZERO,
        average_price=None,
        fee=ZERO,
        status="open",
        source="copy_trade",
        source_id=signal.master_order_id,
        position_id=None,
        trigger_key=None,
        trigger_price=None,
        triggered_at=None,
        hold_id=None,
        status_reason="",
        created_at=now,
        updated_at=now,
        executed_at=None,
    )
    order.pair = pair
    booked = _Booked(plan, order)
    quantum = get_currency(pair.quote_currency).quantum
    levels = book["asks"] if plan.side == "buy" else book["bids"]
    cap = plan.cap if plan.side == "buy" else execution.market_cap(order, book)
    hold_left = plan.released if plan.side == "buy" else plan.quantity
    exact = ZERO
    for f in fills.walk_book(levels, plan.quantity, plan.side, cap, fills.quantity_step(pair)):
        after = exact + f.quantity * f.price
        notional, fee = fills.charge(exact, after, pair.taker_fee, plan.side, quantum)
        if plan.side == "buy":
            if notional + fee > hold_left:  # as settle_fill: a fill never spends past the order's hold
                log.error(
                    "order of %s: fill of %s would exceed its hold; skipped", plan.sub.follower_id, notional + fee
                )
                break
            hold_left -= notional + fee
        else:
            fee = min(fee, notional)
        exact = after
        order.filled_quantity = order.filled_quantity + f.quantity
        order.fee = order.fee + fee
        order.average_price = (after / order.filled_quantity).quantize(fills.PRICE_QUANTUM)
        order.transition_to("filled" if order.filled_quantity == order.quantity else "partially_filled")
        if order.status == "filled":
            order.executed_at = now
        booked.fills.append((f, notional, fee))
    execution.finish_market(order, "No offers within the slippage limit; nothing was bought or sold.")
    return booked


def _lock_positions(pair: TradingPair, follower_ids: list[int]) -> dict[int, Position]:
    """The followers' positions in the pair (created by the batch's setup), locked in id order."""
    rows = db.session.scalars(
        select(Position)
        .where(Position.user_id.in_(sorted(set(follower_ids))), Position.pair_id == pair.id)
        .order_by(Position.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    for position in rows:
        set_committed_value(position, "pair", pair)
    return {p.user_id: p for p in rows}


def _apply_fill(
    position: Position, pair: TradingPair, side: str, f: Fill, fee: Decimal, quantum: Decimal, now
) -> Decimal | None:
    """As :func:`tradeapp.services.trading.positions.apply_fill`, on the session's copy (written later)."""
    values = position.__dict__
    quantity, entry = values["quantity"], values["entry_price"]
    changes = {"updated_at": now}
    realized = None
    if side == "buy":
        if quantity <= 0:
            changes["opened_at"] = now
        changes["quantity"], changes["entry_price"] = fills.after_buy(quantity, entry, f.quantity, f.price)
    else:
        changes["quantity"], realized = fills.after_sell(quantity, entry, f.quantity, f.price, fee, quantum)
        changes["realized_pnl"] = values["realized_pnl"] + realized
        if changes["quantity"] <= 0:
            changes["stop_loss"] = changes["take_profit"] = None
    for key, value in changes.items():
        set_committed_value(position, key, value)
    return realized


def _write_positions(positions, now) -> None:
    rows = [
        {
            "p_id": p.id,
            "quantity": p.quantity,
            "entry_price": p.entry_price,
            "realized_pnl": p.realized_pnl,
            "opened_at": p.opened_at,
            "stop_loss": p.stop_loss,
            "take_profit": p.take_profit,
            "updated_at": p.updated_at,
        }
        for p in positions
        if p.updated_at == now
    ]
    if rows:
        db.session.execute(_UPDATE_POSITION, rows)


def _finish_copies(booked: list[_Booked], moved: list[Decimal], side: str, quantum: Decimal, now) -> None:
    """The copied positions, the copy rows and (for sales) the subscriptions' realised profit, as
    :func:`tradeapp.services.copy_trading.engine.place_copy` leaves them."""
    copy_positions, copies, subs = [], [], []
    for b, cash in zip(booked, moved, strict=True):
        plan, order = b.plan, b.order
        position, copy, sub = plan.position, plan.copy, plan.sub
        filled = order.filled_quantity
        values = {"follower_order_id": order.id, "realized_pnl": copy.realized_pnl}
        if filled > 0:
            if side == "buy":
                quantity, cost = position.quantity + filled, position.cost + cash
            else:
                quantity, cost, realized = sizing.after_sale(position.quantity, position.cost, filled, cash, quantum)
                values["realized_pnl"] = realized
                subs.append((sub, {"realized_profit": sub.realized_profit + realized, "updated_at": now}))
            copy_positions.append((position, {"quantity": quantity, "cost": cost, "updated_at": now}))
            values.update(status="copied", reason="", detail="")
        else:
            values.update(
                status="failed", reason="order_failed", detail=(order.status_reason or "The order did not fill.")[:255]
            )
        copies.append((copy, values))
    for statement, key, changes in (
        (_UPDATE_COPY_POSITION, "cp_id", copy_positions),
        (_UPDATE_COPY, "c_id", copies),
        (_UPDATE_SUB, "s_id", subs),
    ):
        if not changes:
            continue
        db.session.execute(statement, [{key: obj.id, **values} for obj, values in changes])
        for obj, values in changes:
            for name, value in values.items():
                set_committed_value(obj, name, value)


def _announce(booked: list[_Booked], positions: dict[int, Position], pair: TradingPair, uow: UnitOfWork) -> None:
    """The events ``place`` queues for each order (its fills, its position, the order, both wallets)."""
    for b in booked:
        plan, order = b.plan, b.order
        position = positions[order.user_id]
        for trade in b.trades:
            uow.emit_to_user(order.user_id, "trade", realtime.trade_payload(trade, pair))
            uow.emit_to_user(order.user_id, "position", realtime.position_payload(position, pair))
        uow.emit_to_user(order.user_id, "order", realtime.order_payload(order, pair))
        for wallet in (plan.quote_wallet, plan.base_wallet):
            uow.emit_to_user(order.user_id, "wallet_updated", realtime.wallet_payload(wallet))
        for listener in execution.ORDER_LISTENERS:
            listener(order, uow)
