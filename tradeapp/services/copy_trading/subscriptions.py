"""Following a lead trader: subscribe with an allocation held in the ledger, edit, pause, resume, unsubscribe.

The seed's fields keep their meaning: ``copy_percentage`` is the share of the follower's
available capital (in the allocation currency) allocated to the trader; ``max_position_size``
caps one copied order's notional; ``stop_loss_percentage`` is the portfolio stop. Unsubscribing
settles the profit share owed, releases the allocation and ends the subscription; nothing is
deleted.
"""

import logging
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tradeapp.currencies import CurrencyError, get_currency
from tradeapp.errors import IllegalTransition, NotFound, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import CopiedTrade, CopyPosition, CopySubscription, Order, Position, Trader, User, Wallet
from tradeapp.models.copy_trading import OPEN_SUBSCRIPTION
from tradeapp.models.types import utcnow
from tradeapp.services import ledger
from tradeapp.services.copy_trading import engine, profit_share
from tradeapp.services.copy_trading.traders import percent
from tradeapp.services.ledger import InsufficientFunds
from tradeapp.services.trading import fills, prices
from tradeapp.services.trading.fills import ZERO, parse_number
from tradeapp.services.uow import unit_of_work

log = logging.getLogger(__name__)

HUNDRED = Decimal(100)
EDITABLE = ("copy_percentage", "max_position_size", "stop_loss_percentage", "slippage_percentage")


def _bool(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _settings(data: dict, errors: dict, *, partial: bool) -> dict:
    """The subscription fields present in ``data``, checked (blank optional fields clear them)."""
    out: dict = {}
    if "copy_percentage" in data or not partial:
        raw = data.get("copy_percentage")
        out["copy_percentage"] = percent(
            "100" if raw in (None, "") and not partial else raw,
            "copy_percentage",
            errors,
            low=Decimal("0.01"),
            high=HUNDRED,
            required=True,
        )
    for name in ("stop_loss_percentage", "slippage_percentage"):
        if name in data:
            out[name] = percent(data.get(name), name, errors, low=Decimal("0.01"), high=HUNDRED)
    if "max_position_size" in data:
        value = parse_number(data.get("max_position_size"), "max_position_size", errors)
        if value is not None and value <= 0:
            errors.setdefault("max_position_size", []).append("Must be more than 0.")
        out["max_position_size"] = value
    return out


def _trader_id(value, errors: dict) -> int | None:
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit() and len(text) < 19):
        errors["trader"] = ["Choose a lead trader (their id)."]
        return None
    return int(text)


def _count_followers(trader_id: int) -> None:
    """Recount the trader's live followers (inside the caller's unit of work)."""
    count = db.session.scalar(
        select(func.count())
        .select_from(CopySubscription)
        .where(CopySubscription.trader_id == trader_id, CopySubscription.status.in_(OPEN_SUBSCRIPTION))
    )
    trader = db.session.get(Trader, trader_id)
    trader.total_followers = count or 0


def allocation_for(user: User, percentage: Decimal, currency: str = "USD") -> Decimal:
    """What ``percentage`` of the user's available balance in ``currency`` is now (for the follow form's preview)."""
    wallet = db.session.scalar(select(Wallet).where(Wallet.user_id == user.id, Wallet.currency == currency))
    available = wallet.available_balance if wallet is not None else ZERO
    return (available * percentage / HUNDRED).quantize(get_currency(currency).quantum, ROUND_DOWN)


def subscribe(user: User, data: dict) -> CopySubscription:
    """Follow a lead trader: hold ``copy_percentage`` % of the available balance as the allocation.

    :raise ValidationFailed: bad fields, yourself, a trader who cannot be followed, or a duplicate
    :raise InsufficientFunds: nothing available to allocate
    """
    errors: dict[str, list[str]] = {}
    trader_id = _trader_id(data.get("trader"), errors)
    values = _settings(data, errors, partial=False)
    currency = str(data.get("currency") or "USD").strip().upper()
    try:
        currency = get_currency(currency).code
    except CurrencyError:
        errors["currency"] = ["Unknown currency."]
    if errors:
        raise ValidationFailed("Please correct the highlighted fields.", errors)
    trader = db.session.get(Trader, trader_id)
    if trader is None or trader.status != "approved":
        raise ValidationFailed("This trader cannot be followed.", {"trader": ["No active lead trader with this id."]})
    if trader.user_id == user.id:
        raise ValidationFailed("Cannot copy your own trades.", {"trader": ["You cannot follow yourself."]})
    duplicate = ValidationFailed(
        f"You already copy {trader.display_name}: edit that subscription instead.",
        {"trader": ["You already copy this trader."]},
        code="already_subscribed",
    )
    try:
        with unit_of_work():
            live = db.session.scalar(
                select(CopySubscription.id).where(
                    CopySubscription.follower_id == user.id,
                    CopySubscription.trader_id == trader.id,
                    CopySubscription.status.in_(OPEN_SUBSCRIPTION),
                )
            )
            if live is not None:
                raise duplicate
            wallet = ledger.lock_user_wallets(user.id, (currency,))[currency]
            amount = (wallet.available_balance * values["copy_percentage"] / HUNDRED).quantize(
                get_currency(currency).quantum, ROUND_DOWN
            )
            if amount <= 0:
                raise InsufficientFunds(
                    f"No available {currency} balance to allocate: deposit first.",
                    {"copy_percentage": [f"{values['copy_percentage']:f} % of your available {currency} is nothing."]},
                )
            sub = CopySubscription(
                follower_id=user.id,
                trader_id=trader.id,
                status="active",
                currency=currency,
                allocated_amount=amount,
                copy_open_positions=_bool(data.get("copy_open_positions", False)),
                realized_profit=ZERO,
                high_water_mark=ZERO,
                profit_share_paid=ZERO,
                **values,
            )
            db.session.add(sub)
            db.session.flush()
            hold = ledger.place_hold(wallet, amount, "copy_allocation", f"copy:{sub.id}")
            sub.hold_id, sub.hold = hold.id, hold
            _count_followers(trader.id)
    except IntegrityError:
        db.session.rollback()
        raise duplicate from None
    log.info("user %s follows trader %s with %s %s", user.id, trader.id, amount, currency)
    if sub.copy_open_positions:
        copy_open_positions(sub.id)
    return sub


def copy_open_positions(sub_id: int) -> int:
    """At the start: buy the follower's share of each position the trader holds now (own unit of work).

    Each is recorded against the master's latest buy of that pair, so it counts once.
    """
    sub = db.session.get(CopySubscription, sub_id)
    trader = sub.trader
    held = (
        db.session.execute(
            select(Position).where(Position.user_id == trader.user_id, Position.quantity > 0).order_by(Position.id)
        )
        .scalars()
        .all()
    )
    made = 0
    for position in held:
        pair = position.pair
        if pair.quote_currency != sub.currency:
            continue
        master_order_id = db.session.scalar(
            select(Order.id)
            .where(
                Order.user_id == trader.user_id,
                Order.pair_id == pair.id,
                Order.side == "buy",
                Order.filled_quantity > 0,
            )
            .order_by(Order.id.desc())
            .limit(1)
        )
        if master_order_id is None:
            continue
        signal = engine.CopySignal(
            master_order_id=master_order_id,
            trader_id=trader.id,
            pair_id=pair.id,
            side="buy",
            quantity=position.quantity,
            price=position.entry_price,
            fraction=ZERO,
            master_equity=engine.master_equity(trader.user_id, pair.quote_currency),
        )
        signal.pair = pair
        try:
            made += _copy_position(signal, sub_id)
        except Exception:  # noqa: BLE001 - opening copies are a convenience; the subscription stands
            db.session.rollback()
            log.exception("subscription %s: copying open position %s failed", sub_id, position.id)
    return made


def _copy_position(signal, sub_id: int) -> int:
    """One opening copy, under the (subscription, master order) key like any other."""
    with unit_of_work():
        claimed = engine.claim(signal, [sub_id])
        if not claimed:
            return 0
        sub = db.session.scalar(select(CopySubscription).where(CopySubscription.id == sub_id).with_for_update())
        copy = db.session.scalar(
            select(CopiedTrade).where(
                CopiedTrade.subscription_id == sub_id, CopiedTrade.master_order_id == signal.master_order_id
            )
        )
        positions = list(db.session.scalars(select(CopyPosition).where(CopyPosition.subscription_id == sub_id)))
        ctx = engine.Context(signal)
        engine.copy_one(ctx, sub, copy, positions)
        if copy.status == "copied":
            copy.detail = "Opening copy of a position the trader held when you subscribed."
        return 1 if copy.status == "copied" else 0


def get_subscription(user: User, sub_id: int) -> CopySubscription:
    sub = db.session.scalar(
        select(CopySubscription).where(CopySubscription.id == sub_id, CopySubscription.follower_id == user.id)
    )
    if sub is None:
        raise NotFound("No such subscription.")
    return sub


def _lock(user: User, sub_id: int) -> CopySubscription:
    sub = db.session.scalar(
        select(CopySubscription)
        .where(CopySubscription.id == sub_id, CopySubscription.follower_id == user.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if sub is None:
        raise NotFound("No such subscription.")
    return sub


def update_subscription(user: User, sub_id: int, data: dict) -> CopySubscription:
    """Change settings (partially), pause (``is_active`` false) or resume (true); the trader cannot change.

    A new ``copy_percentage`` resizes the allocation's cash to that share of what is free
    (available + the allocation's cash).
    """
    errors: dict[str, list[str]] = {}
    values = _settings(data, errors, partial=True)
    if values.get("copy_percentage", 0) is None:
        values.pop("copy_percentage")
    if errors:
        raise ValidationFailed("Please correct the highlighted fields.", errors)
    with unit_of_work() as uow:
        sub = _lock(user, sub_id)
        if data.get("trader") not in (None, "") and str(data.get("trader")) != str(sub.trader_id):
            raise ValidationFailed(
                "A subscription cannot move to another trader: unsubscribe and follow the other one.",
                {"trader": ["Cannot be changed."]},
            )
        if sub.status == "ended":
            raise IllegalTransition("This subscription has ended.")
        for name, value in values.items():
            if name != "copy_percentage":
                setattr(sub, name, value)
        if "copy_percentage" in values and values["copy_percentage"] != sub.copy_percentage:
            _resize(sub, values["copy_percentage"])
        if "is_active" in data:
            active = _bool(data["is_active"])
            if active and sub.status in ("paused", "stopped"):
                if sub.trader.status != "approved":
                    raise ValidationFailed(
                        "This trader is not active: copying cannot resume.", {"is_active": ["The trader is suspended."]}
                    )
                positions = list(db.session.scalars(select(CopyPosition).where(CopyPosition.subscription_id == sub.id)))
                sub.transition_to("active")
                sub.status_reason = ""
                # the portfolio stop measures from here on
                sub.allocated_amount = engine.allocation_equity(sub, positions).quantize(
                    get_currency(sub.currency).quantum, ROUND_DOWN
                )
            elif not active and sub.status == "active":
                sub.transition_to("paused")
                sub.status_reason = "Paused by you."
        sub.updated_at = utcnow()
        uow.emit_to_user(user.id, "copy_trade", {"subscription": sub.id, "status": sub.status})
    return sub


def _resize(sub: CopySubscription, percentage: Decimal) -> None:
    wallet = ledger.lock_user_wallets(sub.follower_id, (sub.currency,))[sub.currency]
    cash = sub.cash
    target = ((wallet.available_balance + cash) * percentage / HUNDRED).quantize(
        get_currency(sub.currency).quantum, ROUND_DOWN
    )
    if target > cash:
        engine.add_cash(sub, target - cash)
    elif target < cash:
        engine.take_cash(sub, cash - target)
    sub.allocated_amount = max(sub.allocated_amount + target - cash, ZERO)
    sub.copy_percentage = percentage


def unsubscribe(user: User, sub_id: int) -> CopySubscription:
    """Settle the profit share owed, release the allocation's cash and end the subscription (kept as history).

    Copied positions stay in the follower's wallet as their own.
    """
    with unit_of_work() as uow:
        sub = _lock(user, sub_id)
        if sub.status == "ended":
            raise IllegalTransition("This subscription has already ended.")
        profit_share.settle(sub, "final")
        if sub.hold is not None and sub.hold.status == "active" and sub.hold.remaining > 0:
            ledger.release_hold(sub.hold)
        sub.transition_to("ended")
        sub.ended_at = utcnow()
        sub.status_reason = "Unsubscribed."
        _count_followers(sub.trader_id)
        uow.emit_to_user(user.id, "copy_trade", {"subscription": sub.id, "status": "ended"})
    log.info("subscription %s ended by its follower", sub_id)
    return sub


# -- reading ----------------------------------------------------------------------------------------


def subscriptions_query(user: User, *, live_only: bool = False):
    query = select(CopySubscription).where(CopySubscription.follower_id == user.id)
    if live_only:
        query = query.where(CopySubscription.status.in_(OPEN_SUBSCRIPTION))
    return query.order_by(CopySubscription.created_at.desc(), CopySubscription.id.desc())


def copied_trades_query(user: User, *, subscription_id: int | None = None, status: str | None = None):
    query = (
        select(CopiedTrade)
        .join(CopySubscription, CopySubscription.id == CopiedTrade.subscription_id)
        .where(CopySubscription.follower_id == user.id)
    )
    if subscription_id is not None:
        query = query.where(CopiedTrade.subscription_id == subscription_id)
    if status:
        query = query.where(CopiedTrade.status == status)
    return query.order_by(CopiedTrade.created_at.desc(), CopiedTrade.id.desc())


def performance(sub: CopySubscription, quotes: dict | None = None) -> dict:
    """The subscription's money: allocated, cash, invested value, equity, realised and unrealised P&L."""
    positions = list(db.session.scalars(select(CopyPosition).where(CopyPosition.subscription_id == sub.id)))
    quotes = {} if quotes is None else quotes
    equity = engine.allocation_equity(sub, positions, quotes)
    quantum = get_currency(sub.currency).quantum
    invested = sum((p.cost for p in positions if p.quantity > 0), ZERO)
    value = equity - sub.cash
    unrealized = value - invested
    copies = db.session.execute(
        select(CopiedTrade.status, func.count())
        .where(CopiedTrade.subscription_id == sub.id)
        .group_by(CopiedTrade.status)
    ).all()
    counts = {status: n for status, n in copies}
    return {
        "allocated": sub.allocated_amount,
        "cash": sub.cash.quantize(quantum),
        "positions_value": value.quantize(quantum),
        "equity": equity.quantize(quantum),
        "realized_profit": sub.realized_profit.quantize(quantum),
        "unrealized_profit": unrealized.quantize(quantum),
        "total_profit": (sub.realized_profit + unrealized).quantize(quantum),
        "profit_share_paid": sub.profit_share_paid.quantize(quantum),
        "copied": counts.get("copied", 0),
        "skipped": counts.get("skipped", 0) + counts.get("failed", 0),
        "positions": [(p, quotes.get(p.pair_id)) for p in positions if p.quantity > 0],
    }


def portfolio(user: User) -> dict:
    """Every subscription's performance and the totals (the seed's ``performance`` action, with real numbers)."""
    subs = list(db.session.scalars(subscriptions_query(user)))
    quotes: dict = {}
    rows = [(sub, performance(sub, quotes)) for sub in subs]
    live = [r for r in rows if r[0].status != "ended"]
    return {
        "subscriptions": rows,
        "active_subscriptions": sum(1 for s, _ in rows if s.status == "active"),
        "total_profit": sum((p["total_profit"] for _, p in rows), ZERO),
        "realized_profit": sum((p["realized_profit"] for _, p in rows), ZERO),
        "unrealized_profit": sum((p["unrealized_profit"] for _, p in live), ZERO),
        "allocated": sum((p["allocated"] for _, p in live), ZERO),
        "equity": sum((p["equity"] for _, p in live), ZERO),
    }


def preview(user: User, trader: Trader, data: dict) -> dict:
    """What a copy of the trader's last trade would have been with these settings (nothing is written)."""
    errors: dict[str, list[str]] = {}
    values = _settings(data, errors, partial=False)
    if errors:
        raise ValidationFailed("Please correct the highlighted fields.", errors)
    allocation = allocation_for(user, values["copy_percentage"])
    last = db.session.scalar(
        select(Order)
        .where(Order.user_id == trader.user_id, Order.side == "buy", Order.filled_quantity > 0)
        .order_by(Order.id.desc())
        .limit(1)
    )
    out = {"allocation": allocation, "currency": "USD", "last": None}
    if last is None:
        db.session.rollback()
        return out
    pair = last.pair
    equity = engine.master_equity(trader.user_id, pair.quote_currency)
    try:
        ask = prices.live_quote(pair, fresh=False).get("ask") or last.average_price
    except Exception:  # noqa: BLE001 - no live price: the master's price
        ask = last.average_price
    sized = engine.sizing.size_buy(
        master_quantity=last.filled_quantity,
        master_equity=equity,
        allocation_equity=allocation,
        cash=allocation,
        price_cap=ask,
        fee_pct=pair.taker_fee,
        quantity_step=fills.quantity_step(pair),
        min_size=pair.min_order_size,
        max_size=pair.max_order_size,
        max_position_size=values.get("max_position_size"),
        quantum=get_currency(pair.quote_currency).quantum,
    )
    out["last"] = {
        "symbol": pair.symbol,
        "master_quantity": last.filled_quantity,
        "quantity": sized.quantity,
        "price": ask,
        "notional": (sized.quantity * ask).quantize(get_currency(pair.quote_currency).quantum),
        "skipped": sized.skipped,
        "reason": sized.detail,
    }
    db.session.rollback()
    return out
