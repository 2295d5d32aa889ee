"""Profit share: the trader's percentage of a follower's net realised copy profit above a high-water mark.

Settled daily by a job (one settlement per subscription and day, unique, so a re-run pays
nothing twice) and at unsubscribe (``final``). The money moves in one journal entry: out of the
allocation's hold (or the follower's free balance when the allocation's cash is short) to the
trader's wallet, with the platform's configured cut to ``fees``. A loss lowers the realised
total below the mark; nothing is due until it is earned back.
"""

import logging
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from tradeapp.currencies import get_currency
from tradeapp.extensions import db
from tradeapp.models import CopySubscription, ProfitShareSettlement
from tradeapp.models.copy_trading import OPEN_SUBSCRIPTION
from tradeapp.models.types import utcnow
from tradeapp.services import ledger
from tradeapp.services.copy_trading import sizing
from tradeapp.services.copy_trading.traders import setting
from tradeapp.services.ledger import Leg
from tradeapp.services.notifications import notify, register_kind
from tradeapp.services.uow import unit_of_work

log = logging.getLogger(__name__)

ZERO = Decimal(0)
PAID = register_kind("copy_profit_share", "Profit share settled", email=False)


def platform_fee_pct() -> Decimal:
    return setting("PLATFORM_FEE_PCT", Decimal(0))


def settle(sub: CopySubscription, period: str) -> ProfitShareSettlement | None:
    """Settle what ``sub`` owes its trader now (inside the caller's unit of work, ``sub`` locked).

    Returns the settlement, or None when nothing is above the high-water mark or this period was
    already settled.
    """
    trader = sub.trader
    quantum = get_currency(sub.currency).quantum
    profit, due, new_mark = sizing.profit_share(
        sub.realized_profit, sub.high_water_mark, trader.profit_share_percentage, quantum
    )
    if profit <= 0:
        return None
    exists = db.session.scalar(
        select(ProfitShareSettlement.id).where(
            ProfitShareSettlement.subscription_id == sub.id, ProfitShareSettlement.period == period
        )
    )
    if exists is not None:
        return None
    follower_wallet = ledger.wallet_for(sub.follower_id, sub.currency)
    trader_wallet = ledger.wallet_for(trader.user_id, sub.currency)
    # both wallets, in id order, before anything else touches either
    locked = ledger.lock_wallets([follower_wallet.id, trader_wallet.id])
    follower_wallet, trader_wallet = locked[follower_wallet.id], locked[trader_wallet.id]
    cash = sub.cash
    payable = min(due, cash + follower_wallet.available_balance)
    if payable < due:
        # what cannot be paid now stays above the mark and is due at the next settlement
        new_mark = sub.high_water_mark + (profit * payable / due if due else ZERO)
    entry = None
    trader_part = platform_part = ZERO
    if payable > 0:
        trader_part, platform_part = sizing.split_fee(payable, platform_fee_pct(), quantum)
        legs = [Leg(trader_wallet, trader_part)] if trader_part else []
        if platform_part:
            legs.append(Leg(ledger.platform_account("fees", sub.currency), platform_part))
        memo = f"Profit share to {trader.display_name} (subscription {sub.id}, {period})"
        from_hold = min(payable, cash)
        if from_hold == payable:
            entry = ledger.settle_hold(
                sub.hold, payable, legs, kind="profit_share", memo=memo, reference=f"copy:{sub.id}"
            )
        else:
            if from_hold > 0:
                ledger.release_hold(sub.hold, from_hold)
            entry = ledger.post(
                "profit_share",
                [Leg(follower_wallet, -payable), *legs],
                memo=memo,
                reference=f"copy:{sub.id}",
            )
    settlement = ProfitShareSettlement(
        subscription_id=sub.id,
        trader_id=trader.id,
        period=period,
        currency=sub.currency,
        profit=profit,
        percentage=trader.profit_share_percentage,
        amount=payable,
        trader_amount=trader_part,
        platform_fee=platform_part,
        high_water_mark_before=sub.high_water_mark,
        high_water_mark_after=new_mark,
        entry_id=entry.id if entry is not None else None,
    )
    db.session.add(settlement)
    sub.high_water_mark = new_mark
    sub.profit_share_paid = sub.profit_share_paid + payable
    db.session.flush()
    if payable > 0:
        body = f"{payable:f} {sub.currency} ({trader.profit_share_percentage.normalize():f} % of {profit.normalize():f} profit above the high-water mark)."
        notify(
            sub.follower_id,
            PAID,
            f"Profit share paid to {trader.display_name}",
            body,
            link="/copy/mine",
            dedupe_key=f"profit-share:{settlement.id}:follower",
        )
        notify(
            trader.user_id,
            PAID,
            "Profit share received",
            body,
            link="/copy/",
            dedupe_key=f"profit-share:{settlement.id}:trader",
        )
    log.info("subscription %s: profit share %s %s for %s", sub.id, payable, sub.currency, period)
    return settlement


def settle_subscription(sub_id: int, period: str) -> ProfitShareSettlement | None:
    """Settle one subscription in its own unit of work."""
    with unit_of_work() as uow:
        sub = db.session.scalar(
            select(CopySubscription)
            .where(CopySubscription.id == sub_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if sub is None or sub.status not in OPEN_SUBSCRIPTION:
            uow.rollback()
            return None
        return settle(sub, period)


def settle_all(day: date | None = None) -> int:
    """The daily job: settle every open subscription with realised profit above its mark; returns how many paid."""
    period = (day or utcnow().date()).isoformat()
    ids = list(
        db.session.scalars(
            select(CopySubscription.id)
            .where(
                CopySubscription.status.in_(OPEN_SUBSCRIPTION),
                CopySubscription.realized_profit > CopySubscription.high_water_mark,
            )
            .order_by(CopySubscription.id)
        )
    )
    db.session.rollback()
    paid = 0
    for sub_id in ids:
        try:
            paid += settle_subscription(sub_id, period) is not None
        except Exception:  # noqa: BLE001 - one follower's problem must not hold back the others
            db.session.rollback()
            log.exception("profit share of subscription %s failed", sub_id)
    return paid


def settlements_query(*, trader_id: int | None = None, subscription_id: int | None = None):
    query = select(ProfitShareSettlement)
    if trader_id is not None:
        query = query.where(ProfitShareSettlement.trader_id == trader_id)
    if subscription_id is not None:
        query = query.where(ProfitShareSettlement.subscription_id == subscription_id)
    return query.order_by(ProfitShareSettlement.created_at.desc(), ProfitShareSettlement.id.desc())
