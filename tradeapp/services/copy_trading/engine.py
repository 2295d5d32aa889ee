"""Copying: a lead trader's finished order becomes one signal; the copy job copies it to each follower once.

How a copy is made exactly once:

1. When a lead trader's order finishes with something filled (a market order at once; a limit,
   stop or take-profit order when it fills; a partly filled order when it is cancelled), the
   order's own transaction writes a :class:`CopySignal` (unique per master order) with what
   sizing needs then: the master's equity and, for a sell, the part of the position it closed.
   After commit it enqueues one copy job by dotted name. A lost job leaves the signal
   unprocessed, and the sweep (:func:`sweep`) enqueues it again.
2. The job walks the trader's subscriptions in batches (one transaction per batch, not per
   follower). A batch first claims its followers by inserting their :class:`CopiedTrade` rows,
   unique on (subscription, master order), ``ON CONFLICT DO NOTHING``: a second job running at
   the same time waits on those rows and then finds them taken; a batch killed mid-way rolls back
   its claims with its orders, so its retry copies exactly the followers it had not committed.
3. Each claimed follower's copy is sized (:mod:`.sizing`), placed through
   :func:`tradeapp.services.trading.orders.place` with ``source='copy_trade'``, and its cash
   moves between the allocation's hold and the order's own hold; a copy that cannot be made is
   recorded as skipped with its reason. If a batch fails as a whole, its followers are retried
   one per transaction, and one that still fails is recorded as failed.

The allocation: a subscription's uninvested cash is one Hold in the follower's wallet. A copy buy
releases from it exactly what the order will hold; whatever the order did not spend, and a
sell's proceeds, go back under the same hold (:func:`tradeapp.services.ledger.grow_hold`).
"""

import logging
from collections import defaultdict
from decimal import ROUND_DOWN, Decimal

from flask import current_app
from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.orm.attributes import set_committed_value

from tradeapp.currencies import get_currency
from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models import (
    CopiedTrade,
    CopyPosition,
    CopySignal,
    CopySubscription,
    Order,
    Position,
    Trader,
    TradingPair,
    Wallet,
)
from tradeapp.models.copy_trading import OPEN_SUBSCRIPTION, SKIP_REASONS
from tradeapp.models.types import utcnow
from tradeapp.services import ledger
from tradeapp.services.copy_trading import batch, sizing
from tradeapp.services.copy_trading.batch import Plan
from tradeapp.services.copy_trading.traders import setting
from tradeapp.services.notifications import notify, notify_many, register_kind
from tradeapp.services.rows import upsert_insert
from tradeapp.services.trading import execution, fills, prices
from tradeapp.services.trading import positions as trading_positions
from tradeapp.services.trading.execution import BOOK_DEPTH
from tradeapp.services.trading.fills import ZERO
from tradeapp.services.trading.orders import OrderRequest, place
from tradeapp.services.uow import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)

COPY_JOB = "tradeapp.jobs.copy_trading.copy_signal"
STOP_JOB = "tradeapp.jobs.copy_trading.portfolio_stop"
PART_JOB = "tradeapp.jobs.copy_trading.copy_signal_part"
#: followers per copy transaction
BATCH = 200

COPIED = register_kind("copy_trade_copied", "Trade copied", email=False)
SKIPPED = register_kind("copy_trade_skipped", "Copy skipped", email=False)
STOPPED = register_kind("copy_portfolio_stop", "Copy portfolio stop", email=True)


# -- the master side: one signal per finished order ---------------------------------------------------


def master_equity(user_id: int, currency: str) -> Decimal:
    """Everything the user owns (every wallet's balance) valued in ``currency`` at live prices."""
    total = ZERO
    for wallet_currency, balance in db.session.execute(
        select(Wallet.currency, Wallet.balance).where(Wallet.user_id == user_id, Wallet.balance > 0)
    ):
        if wallet_currency == currency:
            total += balance
            continue
        try:
            converted = prices.convert(balance, wallet_currency, currency)
        except Exception:  # noqa: BLE001 - an unpriced currency counts for nothing rather than failing the order
            converted = None
        if converted is not None:
            total += converted.amount
    return total


# Built once: every filled order runs it (building and hashing a statement costs about as much as running it).
_APPROVED_TRADER = select(Trader.id).where(Trader.user_id == bindparam("user_id"), Trader.status == "approved")


def on_order(order: Order, uow: UnitOfWork) -> None:
    """Order listener (runs in every order transaction): a lead trader's finished order becomes a signal."""
    if order.source in ("copy_trade", "loan") or order.filled_quantity <= 0:
        return
    if order.status not in ("filled", "cancelled"):
        return
    trader_id = db.session.scalar(_APPROVED_TRADER, {"user_id": order.user_id})
    if trader_id is None:
        return
    pair = order.pair
    fraction = ZERO
    if order.side == "sell":
        held = db.session.scalar(
            select(Position.quantity).where(Position.user_id == order.user_id, Position.pair_id == pair.id)
        )
        before = (held or ZERO) + order.filled_quantity
        fraction = min(order.filled_quantity / before, Decimal(1)).quantize(Decimal("1e-12"), ROUND_DOWN)
    statement = (
        upsert_insert(CopySignal)
        .values(
            master_order_id=order.id,
            trader_id=trader_id,
            pair_id=pair.id,
            side=order.side,
            quantity=order.filled_quantity,
            price=order.average_price,
            fraction=fraction,
            master_equity=master_equity(order.user_id, pair.quote_currency),
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["master_order_id"])
        .returning(CopySignal.id)
    )
    signal_id = db.session.scalar(statement)
    if signal_id is not None:
        uow.enqueue(COPY_JOB, signal_id, queue="orders", job_id=f"copy-signal-{signal_id}")


def install() -> None:
    """Listen to orders (idempotent; done at import of the copy-trading services)."""
    if on_order not in execution.ORDER_LISTENERS:
        execution.ORDER_LISTENERS.append(on_order)


install()


# -- allocation cash ---------------------------------------------------------------------------------


def add_cash(sub: CopySubscription, amount: Decimal) -> None:
    """Put ``amount`` (already available in the follower's wallet) under the allocation's hold."""
    if amount <= 0:
        return
    hold = sub.hold
    if hold is not None and hold.status == "active":
        ledger.grow_hold(hold, amount)
        return
    wallet = ledger.wallet_for(sub.follower_id, sub.currency)
    hold = ledger.place_hold(wallet, amount, "copy_allocation", f"copy:{sub.id}")
    sub.hold_id, sub.hold = hold.id, hold


def take_cash(sub: CopySubscription, amount: Decimal) -> None:
    """Release ``amount`` of the allocation's cash back to the follower's available balance."""
    if amount > 0:
        ledger.release_hold(sub.hold, amount)


def allocation_equity(sub: CopySubscription, positions: list[CopyPosition], quotes: dict | None = None) -> Decimal:
    """The allocation's cash plus its copied positions at the bid."""
    quotes = {} if quotes is None else quotes
    total = sub.cash
    for position in positions:
        if position.quantity <= 0:
            continue
        if position.pair_id not in quotes:
            try:
                quotes[position.pair_id] = prices.live_quote(position.pair, fresh=False).get("bid")
            except Exception:  # noqa: BLE001 - no price: valued at cost
                quotes[position.pair_id] = None
        bid = quotes[position.pair_id]
        total += position.quantity * bid if bid is not None else position.cost
    return total


def _lock_position(sub_id: int, pair_id: int) -> CopyPosition:
    query = (
        select(CopyPosition)
        .where(CopyPosition.subscription_id == sub_id, CopyPosition.pair_id == pair_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    position = db.session.scalar(query)
    if position is None:
        db.session.execute(
            upsert_insert(CopyPosition)
            .values(subscription_id=sub_id, pair_id=pair_id, quantity=ZERO, cost=ZERO, updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["subscription_id", "pair_id"])
        )
        position = db.session.scalar(query)
    return position


# -- one follower's copy --------------------------------------------------------------------------------


class Context:
    """What one batch knows about the signal's market: read once, used for every follower."""

    def __init__(self, signal: CopySignal):
        self.signal = signal
        self.pair: TradingPair = signal.pair
        self.quote: dict | None = None
        self.book: dict | None = None
        self.stale: str = ""
        self.quotes: dict = {}
        try:
            self.quote = prices.live_quote(self.pair)
            self.book = prices.live_book(self.pair, BOOK_DEPTH)
            self.quotes[self.pair.id] = self.quote.get("bid")
        except (prices.MarketStale, prices.MarketDataUnavailable) as exc:
            self.stale = str(exc)[:255]

    def buy_cap(self) -> Decimal | None:
        """The worst price a market buy may reach now (as :func:`execution.market_cap` computes it)."""
        asks = self.book["asks"] if self.book else []
        if not asks:
            return None
        slippage = current_app.config["ORDER_MAX_SLIPPAGE"]
        return (asks[0][0] * (1 + slippage)).quantize(fills.price_step(self.pair), ROUND_DOWN)


def _skip(copy: CopiedTrade, reason: str, detail: str = "") -> None:
    copy.status, copy.reason = "skipped", reason
    copy.detail = (detail or SKIP_REASONS.get(reason, reason))[:255]


def plan_copy(
    ctx: Context,
    sub: CopySubscription,
    copy: CopiedTrade,
    positions: list[CopyPosition],
    wallets: dict[str, Wallet] | None = None,
) -> Plan | None:
    """Size one follower's copy of the signal; None when it is skipped (``copy`` then says why).

    ``wallets``: the follower's quote and base wallets by currency, when the caller locked them already.
    """
    signal, pair = ctx.signal, ctx.pair
    if sub.status != "active":
        _skip(copy, "paused" if sub.status == "paused" else "stopped", sub.status_reason or "")
        return None
    if sub.currency != pair.quote_currency:
        _skip(
            copy, "currency", f"{pair.symbol} is quoted in {pair.quote_currency}; your allocation is in {sub.currency}."
        )
        return None
    if ctx.stale:
        _skip(copy, "market_stale", ctx.stale)
        return None
    if wallets is None:
        wallets = ledger.lock_user_wallets(sub.follower_id, (pair.quote_currency, pair.base_currency))
    quote_wallet, base_wallet = wallets[pair.quote_currency], wallets[pair.base_currency]
    position = next((p for p in positions if p.pair_id == pair.id), None)
    step = fills.quantity_step(pair)
    quantum = get_currency(pair.quote_currency).quantum
    if signal.side == "buy":
        cap = ctx.buy_cap()
        if cap is None:
            _skip(copy, "order_failed", "No offers to buy from.")
            return None
        if sizing.slippage_exceeded(signal.price, ctx.quote.get("ask"), sub.slippage_percentage):
            _skip(
                copy,
                "slippage",
                f"Ask {ctx.quote['ask']:f} is more than {sub.slippage_percentage.normalize():f} % from the master's "
                f"{signal.price.normalize():f}.",
            )
            return None
        sized = sizing.size_buy(
            master_quantity=signal.quantity,
            master_equity=signal.master_equity,
            allocation_equity=allocation_equity(sub, positions, ctx.quotes),
            cash=sub.cash,
            price_cap=cap,
            fee_pct=pair.taker_fee,
            quantity_step=step,
            min_size=pair.min_order_size,
            max_size=pair.max_order_size,
            max_position_size=sub.max_position_size,
            quantum=quantum,
        )
        if sized.skipped:
            _skip(copy, sized.reason, sized.detail)
            return None
        released = fills.buy_hold(sized.quantity, cap, pair.taker_fee, quantum)
        return Plan(sub, copy, "buy", sized.quantity, quote_wallet, base_wallet, position, cap, released)
    sized = sizing.size_sell(
        fraction=signal.fraction,
        copied_quantity=position.quantity if position is not None else ZERO,
        available=base_wallet.available_balance,
        quantity_step=step,
        min_size=pair.min_order_size,
    )
    if sized.skipped:
        _skip(copy, sized.reason, sized.detail)
        return None
    return Plan(sub, copy, "sell", sized.quantity, quote_wallet, base_wallet, position)


def place_copy(ctx: Context, plan: Plan) -> None:
    """Place one planned copy through :func:`tradeapp.services.trading.orders.place` (one follower at a time)."""
    signal, pair, sub, copy = ctx.signal, ctx.pair, plan.sub, plan.copy
    quote_wallet, position = plan.quote_wallet, plan.position
    quantum = get_currency(pair.quote_currency).quantum
    if plan.side == "buy":
        take_cash(sub, plan.released)
        before = quote_wallet.balance
        order = place(
            sub.follower_id,
            OrderRequest(pair, "buy", "market", plan.quantity),
            source="copy_trade",
            source_id=signal.master_order_id,
        )
        spent = before - quote_wallet.balance
        add_cash(sub, plan.released - spent)
        if order.filled_quantity > 0:
            position = position or _lock_position(sub.id, pair.id)
            position.quantity += order.filled_quantity
            position.cost += spent
    else:
        before = quote_wallet.balance
        order = place(
            sub.follower_id,
            OrderRequest(pair, "sell", "market", plan.quantity),
            source="copy_trade",
            source_id=signal.master_order_id,
        )
        proceeds = quote_wallet.balance - before
        if order.filled_quantity > 0:
            realized = _book_sale(sub, position, order.filled_quantity, proceeds, quantum)
            copy.realized_pnl = realized
        add_cash(sub, proceeds)
    copy.follower_order_id = order.id
    if order.filled_quantity > 0:
        copy.status, copy.reason, copy.detail = "copied", "", ""
    else:
        copy.status, copy.reason = "failed", "order_failed"
        copy.detail = (order.status_reason or "The order did not fill.")[:255]


def copy_one(
    ctx: Context,
    sub: CopySubscription,
    copy: CopiedTrade,
    positions: list[CopyPosition],
    wallets: dict[str, Wallet] | None = None,
    gate: batch.Gate | None = None,
) -> None:
    """Make (or skip, with the reason) one follower's copy of the signal, inside the caller's unit of work.

    ``wallets``: the follower's quote and base wallets by currency, when the caller locked them already.
    ``gate``: a copy the batch can book set-based is left to it (:func:`batch.fill`) instead of placed now.
    """
    plan = plan_copy(ctx, sub, copy, positions, wallets)
    if plan is not None and (gate is None or not gate.take(plan)):
        place_copy(ctx, plan)


def _book_sale(sub: CopySubscription, position: CopyPosition, sold: Decimal, proceeds: Decimal, quantum) -> Decimal:
    """Shrink the copied position by ``sold``; realise proceeds − the cost of what was sold."""
    position.quantity, position.cost, realized = sizing.after_sale(
        position.quantity, position.cost, sold, proceeds, quantum
    )
    sub.realized_profit = sub.realized_profit + realized
    return realized


# -- the copy job ------------------------------------------------------------------------------------


def claim(signal: CopySignal, sub_ids: list[int]) -> list[int]:
    """Insert the batch's copy rows (pending) in subscription order; the ids of the subscriptions this run got."""
    if not sub_ids:
        return []
    now = utcnow()
    rows = [
        {
            "subscription_id": sid,
            "master_order_id": signal.master_order_id,
            "status": "pending",
            "reason": "",
            "detail": "",
            "created_at": now,
        }
        for sid in sorted(sub_ids)
    ]
    # executemany of one cached statement (sent as one multi-row INSERT, rows in this order)
    statement = (
        upsert_insert(CopiedTrade.__table__)
        .on_conflict_do_nothing(index_elements=["subscription_id", "master_order_id"])
        .returning(CopiedTrade.__table__.c.subscription_id)
    )
    return sorted(db.session.execute(statement, rows).scalars())


def copy_batch(signal_id: int, sub_ids: list[int]) -> dict[str, int]:
    """Copy the signal to these subscriptions in one transaction; ``{status: count}`` of what this run did."""
    counts: dict[str, int] = defaultdict(int)
    with unit_of_work() as uow:
        signal = db.session.get(CopySignal, signal_id)
        claimed = claim(signal, sub_ids)
        if not claimed:
            uow.rollback()
            return counts
        subs = {
            s.id: s
            for s in db.session.scalars(
                select(CopySubscription)
                .where(CopySubscription.id.in_(claimed))
                .order_by(CopySubscription.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        }
        copies = {
            c.subscription_id: c
            for c in db.session.scalars(
                select(CopiedTrade).where(
                    CopiedTrade.master_order_id == signal.master_order_id, CopiedTrade.subscription_id.in_(claimed)
                )
            )
        }
        wallets = _prepare(signal, [subs[sid] for sid in claimed])
        positions: dict[int, list[CopyPosition]] = defaultdict(list)
        for position in db.session.scalars(
            select(CopyPosition)
            .where(CopyPosition.subscription_id.in_(claimed))
            .order_by(CopyPosition.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ):
            positions[position.subscription_id].append(position)
        ctx = Context(signal)
        trader = db.session.get(Trader, signal.trader_id)
        gate = batch.Gate([subs[sid].follower_id for sid in claimed], ctx.book)
        for sid in claimed:
            sub = subs[sid]
            copy_one(ctx, sub, copies[sid], positions[sid], wallets.get(sub.follower_id), gate)
        batch.fill(signal, ctx.pair, ctx.book, gate.plans, uow)
        for sid in claimed:
            counts[copies[sid].status] += 1
        _announce(uow, ctx, trader, [(subs[sid], copies[sid]) for sid in claimed])
    return counts


def _prepare(signal: CopySignal, subs: list[CopySubscription]) -> dict[int, dict[str, Wallet]]:
    """Take the whole batch's locks and missing rows in a few statements instead of several per follower.

    The followers' quote and base wallets (created where missing), locked together in id order;
    then the allocations' holds; the followers' trading positions and copied positions in the pair
    are created where missing. Returns each follower's wallets by currency.
    """
    pair = signal.pair
    follower_ids = sorted({s.follower_id for s in subs})
    currencies = (pair.quote_currency, pair.base_currency)
    ledger.ensure_wallets(follower_ids, currencies)
    rows = db.session.scalars(
        select(Wallet)
        .where(Wallet.user_id.in_(follower_ids), Wallet.currency.in_(currencies))
        .order_by(Wallet.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).all()
    ledger.mark_locked(rows)
    wallets: dict[int, dict[str, Wallet]] = defaultdict(dict)
    for wallet in rows:
        wallets[wallet.user_id][wallet.currency] = wallet
    # the session keeps loaded rows only while something refers to them: the subscriptions' ``hold``
    # then finds them in the identity map instead of loading each one again
    holds = ledger.lock_holds([s.hold_id for s in subs if s.hold_id is not None])
    for sub in subs:
        if sub.hold_id in holds:
            set_committed_value(sub, "hold", holds[sub.hold_id])
    trading_positions.ensure_positions(follower_ids, pair.id)
    if signal.side == "buy":
        now = utcnow()
        db.session.execute(
            upsert_insert(CopyPosition.__table__).on_conflict_do_nothing(index_elements=["subscription_id", "pair_id"]),
            [
                {"subscription_id": s.id, "pair_id": pair.id, "quantity": ZERO, "cost": ZERO, "updated_at": now}
                for s in sorted(subs, key=lambda s: s.id)
            ],
        )
    return wallets


def _announce(uow: UnitOfWork, ctx: Context, trader: Trader, done: list[tuple[CopySubscription, CopiedTrade]]) -> None:
    """Notifications (one fan-out per outcome), ``copy_trade`` events, and portfolio-stop checks."""
    signal, pair = ctx.signal, ctx.pair
    by_reason: dict[str, list[int]] = defaultdict(list)
    for sub, copy in done:
        uow.emit_to_user(
            sub.follower_id,
            "copy_trade",
            {
                "subscription": sub.id,
                "trader": trader.id,
                "trader_name": trader.display_name,
                "master_order": signal.master_order_id,
                "follower_order": copy.follower_order_id,
                "symbol": pair.symbol,
                "side": signal.side,
                "status": copy.status,
                "reason": copy.reason,
                "detail": copy.detail,
            },
        )
        by_reason[copy.reason if copy.status != "copied" else ""].append(sub.follower_id)
        if sub.stop_loss_percentage is not None and sub.status == "active":
            uow.enqueue(STOP_JOB, sub.id, queue="orders", job_id=f"copy-stop-{sub.id}")
    verb = "bought" if signal.side == "buy" else "sold"
    for reason, users in by_reason.items():
        if not reason:
            notify_many(
                users,
                COPIED,
                f"Copied {trader.display_name}: {signal.side} {pair.symbol}",
                f"{trader.display_name} {verb} {pair.symbol}; your copy filled.",
                link="/copy/mine",
                data={"master_order": signal.master_order_id},
                dedupe_key=f"copy:{signal.master_order_id}",
            )
        else:
            notify_many(
                users,
                SKIPPED,
                f"Copy skipped: {signal.side} {pair.symbol}",
                f"{trader.display_name} {verb} {pair.symbol}; your copy was not made: {SKIP_REASONS.get(reason, reason)}.",
                link="/copy/mine",
                data={"master_order": signal.master_order_id, "reason": reason},
                dedupe_key=f"copy:{signal.master_order_id}",
            )


def _fail_one(signal_id: int, sub_id: int, detail: str) -> None:
    """Record a follower whose copy could not be made even alone (so it is visible, and never retried twice)."""
    with unit_of_work():
        signal = db.session.get(CopySignal, signal_id)
        if not claim(signal, [sub_id]):
            return
        copy = db.session.scalar(
            select(CopiedTrade).where(
                CopiedTrade.subscription_id == sub_id, CopiedTrade.master_order_id == signal.master_order_id
            )
        )
        copy.status, copy.reason, copy.detail = "failed", "order_failed", detail[:255]
        sub = db.session.get(CopySubscription, sub_id)
        notify(
            sub.follower_id,
            SKIPPED,
            f"Copy failed: {signal.side} {signal.pair.symbol}",
            detail,
            link="/copy/mine",
            dedupe_key=f"copy:{signal.master_order_id}",
        )


def pending_subscriptions(signal: CopySignal) -> list[int]:
    """Subscriptions that existed when the master's order finished and have no copy of it yet, by id."""
    done = exists().where(
        CopiedTrade.subscription_id == CopySubscription.id, CopiedTrade.master_order_id == signal.master_order_id
    )
    return list(
        db.session.scalars(
            select(CopySubscription.id)
            .where(
                CopySubscription.trader_id == signal.trader_id,
                CopySubscription.status.in_(OPEN_SUBSCRIPTION),
                CopySubscription.created_at <= signal.created_at,
                ~done,
            )
            .order_by(CopySubscription.id)
        )
    )


def dispatch(signal_id: int) -> dict[str, int]:
    """The copy job: with ``COPY_WORKERS`` > 1, one job per part of the followers (run by as many workers
    in parallel); otherwise the whole copy here."""
    parts = int(setting("WORKERS", 1))
    if parts <= 1:
        return copy_signal(signal_id)
    from tradeapp.queues import enqueue

    for part in range(parts):
        enqueue(PART_JOB, signal_id, part, parts, queue="orders", job_id=f"copy-signal-{signal_id}-{part}-of-{parts}")
    return {}


def copy_signal(signal_id: int, batch: int = BATCH, *, part: int = 0, parts: int = 1) -> dict[str, int]:
    """Copy one master order to every follower not yet copied (with ``parts``, those whose subscription id
    is ``part`` modulo ``parts``); safe to run twice, or at once, or in parts on several workers."""
    signal = db.session.get(CopySignal, signal_id)
    if signal is None:
        return {}
    sub_ids = [sid for sid in pending_subscriptions(signal) if sid % parts == part]
    db.session.rollback()  # end the read; each batch is its own transaction
    totals: dict[str, int] = defaultdict(int)
    for start in range(0, len(sub_ids), batch):
        chunk = sub_ids[start : start + batch]
        try:
            counts = copy_batch(signal_id, chunk)
        except Exception:  # noqa: BLE001 - one follower's problem must not cost the others their copy
            log.exception("copy signal %s: batch of %d failed; copying one by one", signal_id, len(chunk))
            counts = defaultdict(int)
            for sid in chunk:
                try:
                    for key, value in copy_batch(signal_id, [sid]).items():
                        counts[key] += value
                except Exception as exc:  # noqa: BLE001
                    db.session.rollback()
                    detail = exc.message if isinstance(exc, DomainError) else "The copy could not be placed."
                    log.warning("copy signal %s → subscription %s failed: %s", signal_id, sid, exc)
                    _fail_one(signal_id, sid, detail)
                    counts["failed"] += 1
        for key, value in counts.items():
            totals[key] += value
    with unit_of_work() as uow:
        signal = db.session.get(CopySignal, signal_id)
        if pending_subscriptions(signal):
            uow.rollback()  # another part is still copying; the last one marks the signal done
        else:
            db.session.execute(
                update(CopySignal)
                .where(CopySignal.id == signal_id, CopySignal.processed_at.is_(None))
                .values(processed_at=utcnow())
            )
    log.info("copy signal %s (part %d of %d): %s", signal_id, part + 1, parts, dict(totals))
    return dict(totals)


def sweep(max_age_hours: int = 24) -> int:
    """Enqueue the copy job again for signals still unprocessed a minute after they were written (lost jobs)."""
    from datetime import timedelta

    from tradeapp.queues import enqueue

    now = utcnow()
    ids = list(
        db.session.scalars(
            select(CopySignal.id)
            .where(
                CopySignal.processed_at.is_(None),
                CopySignal.created_at <= now - timedelta(minutes=1),
                CopySignal.created_at >= now - timedelta(hours=max_age_hours),
            )
            .order_by(CopySignal.id)
        )
    )
    db.session.rollback()
    for signal_id in ids:
        enqueue(COPY_JOB, signal_id, queue="orders", job_id=f"copy-signal-{signal_id}")
    return len(ids)


# -- the portfolio stop -------------------------------------------------------------------------------


def portfolio_stop(sub_id: int) -> bool:
    """Pause the subscription and close its copied positions at market if their loss reached its stop."""
    with unit_of_work() as uow:
        sub = db.session.scalar(
            select(CopySubscription)
            .where(CopySubscription.id == sub_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if sub is None or sub.status != "active" or sub.stop_loss_percentage is None:
            uow.rollback()
            return False
        positions = list(
            db.session.scalars(
                select(CopyPosition)
                .where(CopyPosition.subscription_id == sub.id)
                .order_by(CopyPosition.id)
                .with_for_update()
            )
        )
        equity = allocation_equity(sub, positions)
        if not sizing.stop_hit(sub.allocated_amount, equity, sub.stop_loss_percentage):
            uow.rollback()
            return False
        sub.transition_to("stopped")
        sub.status_reason = (
            f"Portfolio stop: the copies lost {sub.stop_loss_percentage.normalize():f} % of the allocation."
        )
        for position in positions:
            if position.quantity > 0:
                close_copied(sub, position)
        notify(
            sub.follower_id,
            STOPPED,
            f"Copying {sub.trader.display_name} stopped by your portfolio stop",
            sub.status_reason + " Copied positions were closed at market; resume or unsubscribe on My copies.",
            link="/copy/mine",
            dedupe_key=f"copy-stop:{sub.id}:{utcnow():%Y%m%d%H%M%S}",
        )
        uow.emit_to_user(sub.follower_id, "copy_trade", {"subscription": sub.id, "status": "stopped"})
    log.info("subscription %s: portfolio stop hit at equity %s", sub_id, equity)
    return True


def close_copied(sub: CopySubscription, position: CopyPosition) -> Order | None:
    """Sell a copied position at market (what the wallet has available), proceeds back to the allocation."""
    pair = position.pair
    wallets = ledger.lock_user_wallets(sub.follower_id, (pair.quote_currency, pair.base_currency))
    quote_wallet, base_wallet = wallets[pair.quote_currency], wallets[pair.base_currency]
    quantity = min(position.quantity, base_wallet.available_balance).quantize(fills.quantity_step(pair), ROUND_DOWN)
    if quantity < pair.min_order_size:
        return None
    before = quote_wallet.balance
    order = place(sub.follower_id, OrderRequest(pair, "sell", "market", quantity), source="copy_trade")
    proceeds = quote_wallet.balance - before
    if order.filled_quantity > 0:
        _book_sale(sub, position, order.filled_quantity, proceeds, get_currency(pair.quote_currency).quantum)
    add_cash(sub, proceeds)
    return order


def check_stops() -> int:
    """The periodic portfolio-stop check of every active subscription with a stop (prices move between copies)."""
    ids = list(
        db.session.scalars(
            select(CopySubscription.id).where(
                CopySubscription.status == "active", CopySubscription.stop_loss_percentage.is_not(None)
            )
        )
    )
    db.session.rollback()
    hit = 0
    for sub_id in ids:
        try:
            hit += portfolio_stop(sub_id)
        except Exception:  # noqa: BLE001 - one subscription must not block the others
            db.session.rollback()
            log.exception("portfolio stop check of subscription %s failed", sub_id)
    return hit
