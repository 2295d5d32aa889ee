"""Collateral risk: the LTV check on price ticks, margin calls (once per crossing) and liquidation.

The check is indexed like the order triggers: each active loan stores the collateral prices at
which its LTV reaches the margin-call and liquidation levels; a tick reads only the loans of that
collateral whose ``down_trigger`` the price fell to (a margin call, or a liquidation once called)
or whose ``up_trigger`` it rose back over (the call clears, so the next crossing tells again).
Margin calls and clearings are settled in batches (one transaction per batch, every row re-checked
under its lock); liquidations one loan per transaction.

A liquidation sells collateral at market through :func:`tradeapp.services.trading.orders.place`
(``source='loan'``): partially, back to the initial LTV, when that suffices; entirely when the loan
is overdue beyond its grace days or a partial sale cannot restore the LTV. The proceeds repay the
fee, interest and principal; a full sale that falls short leaves the loan ``defaulted`` with the
shortfall recorded. A stale price never liquidates: the fresh quote is required, and the order path
refuses stale prices too.
"""

import logging
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from sqlalchemy import bindparam, insert, select

from tradeapp.extensions import db
from tradeapp.models import Loan, LoanEvent, LoanLiquidation, LoanProduct, Trade, TradingPair
from tradeapp.models.types import utcnow
from tradeapp.services import ledger
from tradeapp.services.loans import calc
from tradeapp.services.loans.common import (
    HOLD_REASON,
    LOAN_LIQUIDATED,
    LOAN_MARGIN_CALL,
    announce,
    collateral_pair,
    collateral_rate,
    event,
    lock,
    quantum,
    refresh_triggers,
    show,
)
from tradeapp.services.loans.servicing import apply_payment, close_repaid
from tradeapp.services.notifications import notify, notify_many
from tradeapp.services.trading import orders, prices
from tradeapp.services.trading.fills import quantity_step
from tradeapp.services.trading.pairs import MarketDataUnavailable
from tradeapp.services.uow import unit_of_work

log = logging.getLogger(__name__)
ZERO = Decimal(0)
#: loans settled per margin-call transaction
BATCH = 1000
#: the job that tells customers about their margin calls (by name: services never import jobs)
NOTIFY_JOB = "tradeapp.jobs.loans.notify_margin_calls"


def _loan_currencies(collateral: str) -> list[str]:
    """The loan currencies lent against ``collateral`` (from the products: a handful of rows)."""
    found = set()
    for loan_currency, accepted in db.session.execute(
        select(LoanProduct.loan_currency, LoanProduct.collateral_currencies)
    ):
        if collateral in (accepted or []):
            found.add(loan_currency)
    return sorted(found)


def crossed(collateral: str, loan_currency: str, price: Decimal) -> tuple[list[int], list[int], list[int]]:
    """``(margin_call_ids, liquidation_ids, cleared_ids)`` of the active loans ``price`` crossed (indexed reads)."""
    base = (Loan.status == "active", Loan.collateral_currency == collateral, Loan.loan_currency == loan_currency)
    calls, liquidations = [], []
    for loan_id, liquidation_price in db.session.execute(
        select(Loan.id, Loan.liquidation_price).where(*base, Loan.down_trigger >= price).order_by(Loan.id)
    ):
        (liquidations if liquidation_price is not None and liquidation_price >= price else calls).append(loan_id)
    cleared = list(
        db.session.scalars(
            select(Loan.id).where(*base, Loan.up_trigger.is_not(None), Loan.up_trigger <= price).order_by(Loan.id)
        )
    )
    return calls, liquidations, cleared


def check_ltv(symbol: str) -> dict:
    """On a tick of ``symbol``: settle the loans backed by its base currency whose LTV crossed a threshold.

    Returns counts: ``touched`` (loans settled), ``margin_calls``, ``cleared``, ``liquidated``.
    A stale or missing price settles nothing.
    """
    counts = {"touched": 0, "margin_calls": 0, "cleared": 0, "liquidated": 0}
    pair = db.session.scalar(select(TradingPair).where(TradingPair.symbol == symbol))
    if pair is None:
        return counts
    collateral = pair.base_currency
    for loan_currency in _loan_currencies(collateral):
        found = collateral_rate(collateral, loan_currency)
        if found is None or found.stale:
            log.warning("LTV check of %s/%s skipped: no fresh price", collateral, loan_currency)
            continue
        calls, liquidations, cleared = crossed(collateral, loan_currency, found.value)
        db.session.rollback()  # end the read; each batch is its own transaction
        counts["margin_calls"] += margin_call(calls, found.value, collateral)
        counts["cleared"] += clear_margin_calls(cleared, found.value)
        for loan_id in liquidations:
            try:
                if liquidate(loan_id, "ltv") is not None:
                    counts["liquidated"] += 1
            except Exception:  # noqa: BLE001 - one loan must not block the others
                log.exception("liquidation of loan %s failed", loan_id)
    counts["touched"] = counts["margin_calls"] + counts["cleared"] + counts["liquidated"]
    return counts


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), BATCH):
        yield ids[start : start + BATCH]


#: what a crossing's UPDATE … RETURNING gives back to build the events and the live updates
_RETURNING = (
    Loan.id,
    Loan.user_id,
    Loan.product_id,
    Loan.principal_outstanding,
    Loan.interest_accrued,
    Loan.collateral_amount,
    Loan.collateral_currency,
    Loan.loan_currency,
    Loan.margin_called,
    Loan.margin_calls,
    Loan.version,
)
_SET_LTV = Loan.__table__.update().where(Loan.__table__.c.id == bindparam("loan_id")).values(ltv=bindparam("new_ltv"))


def _settle_crossed(uow, rows, price: Decimal, kind: str) -> list:
    """After a crossing's conditional UPDATE: the LTV at ``price``, an event per loan and the live ``loan`` events."""
    if not rows:
        return rows
    thresholds = {
        p.id: (p.margin_call_ltv, p.liquidation_ltv)
        for p in db.session.scalars(select(LoanProduct).where(LoanProduct.id.in_({r.product_id for r in rows})))
    }
    now = utcnow()
    ltvs, events = [], []
    for r in rows:
        ltv = calc.ltv(r.principal_outstanding + r.interest_accrued, r.collateral_amount, price)
        ltvs.append({"loan_id": r.id, "new_ltv": ltv})
        note = f"LTV {ltv}% at {show(price)}"
        events.append({"loan_id": r.id, "kind": kind, "ltv": ltv, "price": price, "note": note, "created_at": now})
        margin, liquidation = thresholds[r.product_id]
        q = quantum(r.loan_currency)
        data = {
            "id": r.id,
            "version": r.version,
            "status": "active",
            "principal_outstanding": format(r.principal_outstanding.quantize(q), "f"),
            "interest_accrued": format(r.interest_accrued.quantize(q), "f"),
            "outstanding_balance": format((r.principal_outstanding + r.interest_accrued).quantize(q), "f"),
            "collateral_amount": format(r.collateral_amount, "f"),
            "collateral_currency": r.collateral_currency,
            "loan_currency": r.loan_currency,
            "ltv": str(ltv),
            "margin_called": r.margin_called,
            "margin_call_ltv": str(margin),
            "liquidation_ltv": str(liquidation),
        }
        uow.emit_to_user(r.user_id, "loan", data)
    # The staff consoles get one event per batch (which loans, what happened), not thousands.
    uow.emit_to_staff("loan", {"ids": [r.id for r in rows], "kind": kind, "price": str(price)})
    db.session.execute(_SET_LTV, ltvs)
    db.session.execute(insert(LoanEvent), events)
    return rows


def margin_call(loan_ids: list[int], price: Decimal, collateral: str) -> int:
    """Put the loans into margin call, each once per crossing, and have their owners told.

    One conditional UPDATE per batch (still active, not yet called, trigger crossed: re-checked by the
    statement itself under its row locks), so a tick settles thousands of loans in a few statements.
    """
    done = 0
    table = Loan.__table__.c
    for chunk in _chunks(loan_ids):
        with unit_of_work() as uow:
            rows = db.session.execute(
                Loan.__table__.update()
                .where(
                    table.id.in_(chunk),
                    table.status == "active",
                    table.margin_called.is_(False),
                    table.down_trigger >= price,
                )
                .values(
                    margin_called=True,
                    margin_calls=table.margin_calls + 1,
                    down_trigger=table.liquidation_price,
                    up_trigger=table.margin_price,
                    version=table.version + 1,
                )
                .returning(*_RETURNING)
            ).all()
            _settle_crossed(uow, rows, price, "margin_call")
            if rows:
                # The customers are told by a job after the commit (one notification per customer and batch,
                # e-mail included): rendering a mail per customer must not hold up the next tick.
                crossing = f"{rows[0].id}-{rows[0].margin_calls}-{rows[0].version}"
                uow.enqueue(
                    NOTIFY_JOB,
                    [r.id for r in rows],
                    str(price),
                    collateral,
                    crossing,
                    queue="default",
                    job_id=f"loan-margin-calls-{crossing}",
                )
            done += len(rows)
    return done


def notify_margin_calls(loan_ids: list[int], price: str, collateral: str, crossing: str) -> int:
    """Tell the owners of these loans (still in margin call) about it; idempotent per crossing batch
    (``crossing`` names it: its first loan, that loan's margin-call count and version)."""
    user_ids = list(
        db.session.scalars(
            select(Loan.user_id).where(Loan.id.in_(loan_ids), Loan.margin_called, Loan.status == "active")
        )
    )
    if not user_ids:
        return 0
    return notify_many(
        user_ids,
        LOAN_MARGIN_CALL,
        f"Margin call: your {collateral}-backed loan needs attention",
        f"{collateral} fell to {price}: the loan-to-value passed its margin-call level. Add collateral "
        "or repay part of the loan to avoid liquidation.",
        link="/loans/",
        dedupe_key=f"loan_margin_call:{crossing}",
    )


def clear_margin_calls(loan_ids: list[int], price: Decimal) -> int:
    """The price rose back over the margin-call level: the call clears (the next crossing tells again)."""
    done = 0
    table = Loan.__table__.c
    for chunk in _chunks(loan_ids):
        with unit_of_work() as uow:
            rows = db.session.execute(
                Loan.__table__.update()
                .where(
                    table.id.in_(chunk),
                    table.status == "active",
                    table.margin_called.is_(True),
                    table.up_trigger <= price,
                )
                .values(
                    margin_called=False,
                    down_trigger=table.margin_price,
                    up_trigger=None,
                    version=table.version + 1,
                )
                .returning(*_RETURNING)
            ).all()
            _settle_crossed(uow, rows, price, "margin_cleared")
            done += len(rows)
    return done


# -- liquidation ---------------------------------------------------------------------------------


def _proceeds(order_id: int) -> tuple[Decimal, Decimal]:
    """``(quantity sold, net proceeds)`` of the liquidation order's fills."""
    sold = proceeds = ZERO
    # Summed in Python: SQLite keeps money as text, and its SUM would go through floats.
    for quantity, notional, fee in db.session.execute(
        select(Trade.quantity, Trade.notional, Trade.fee).where(Trade.order_id == order_id)
    ):
        sold += quantity
        proceeds += notional - fee
    return sold, proceeds


def liquidate(loan_id: int, reason: str, today: date | None = None) -> LoanLiquidation | None:
    """Sell collateral to restore the initial LTV (``ltv``) or to close the loan (``overdue``).

    Returns the LoanLiquidation, or None when nothing was due (re-checked under the loan's lock),
    the price is stale, or nothing could be sold. One unit of work: the sale, the repayment, the
    collateral's hold and the loan's state commit together or not at all.
    """
    loan = db.session.get(Loan, loan_id)
    if loan is None:
        return None
    pair = collateral_pair(loan.collateral_currency, loan.loan_currency)
    if pair is None:
        log.error("loan %s: no %s/%s market to liquidate on", loan_id, loan.collateral_currency, loan.loan_currency)
        return None
    try:
        bid = prices.live_quote(pair)["bid"]  # fresh: a stale price never liquidates
    except (prices.MarketStale, MarketDataUnavailable) as exc:
        log.warning("liquidation of loan %s skipped: %s", loan_id, exc)
        return None
    if bid is None or bid <= 0:
        return None
    db.session.rollback()
    try:
        with unit_of_work() as uow:
            result = _liquidate(uow, loan_id, reason, pair, bid, today or utcnow().date())
            if result is None:
                uow.rollback()
            return result
    except prices.MarketStale as exc:
        log.warning("liquidation of loan %s skipped: %s", loan_id, exc)
        return None


def _due(loan: Loan, reason: str, bid: Decimal, today: date) -> bool:
    if reason == "overdue":
        return loan.due_date is not None and today > loan.due_date + timedelta(days=loan.product.grace_days)
    current = calc.ltv(loan.outstanding_balance, loan.collateral_amount, bid)
    return current is None or current >= loan.product.liquidation_ltv


def _liquidate(uow, loan_id: int, reason: str, pair: TradingPair, bid: Decimal, today: date) -> LoanLiquidation | None:
    loan = lock(loan_id)
    if loan.status != "active" or not _due(loan, reason, bid, today):
        return None
    product = loan.product
    debt = loan.outstanding_balance
    collateral = loan.collateral_amount
    ltv_before = calc.ltv(debt, collateral, bid) or Decimal(0)
    step = quantity_step(pair)
    plan = calc.liquidation_quantity(
        debt,
        collateral,
        bid,
        target_ltv_pct=product.initial_ltv if reason == "ltv" else None,
        taker_fee_pct=pair.taker_fee,
        liquidation_fee_pct=product.liquidation_fee,
        step=step,
    )
    quantity = collateral.quantize(step, ROUND_DOWN) if plan.full else max(plan.quantity, pair.min_order_size)
    if not plan.full and quantity >= collateral:
        plan, quantity = calc.LiquidationPlan(collateral, True), collateral.quantize(step, ROUND_DOWN)
    if quantity <= 0:
        return None

    # Free the collateral to sell from the loan's hold, then sell it at market like any order.
    hold = loan.hold
    ledger.release_hold(hold)
    order = orders.place(
        loan.user_id,
        orders.OrderRequest(pair=pair, side="sell", order_type="market", quantity=quantity),
        source="loan",
        source_id=loan.id,
    )
    sold, proceeds = _proceeds(order.id)
    proceeds = proceeds.quantize(quantum(loan.loan_currency), ROUND_DOWN)
    if sold <= 0:
        log.warning("liquidation of loan %s: nothing sold (no bids within the slippage cap)", loan_id)
        return None  # the caller rolls back: the hold and the loan stay as they were
    cur = loan.loan_currency
    q = quantum(cur)
    fee_rate = product.liquidation_fee / 100
    repaid = min(debt, (proceeds / (1 + fee_rate)).quantize(q, ROUND_DOWN))
    fee = min((repaid * fee_rate).quantize(q, ROUND_UP), proceeds - repaid)
    wallet = ledger.wallet_for(loan.user_id, cur)
    if repaid > 0:
        apply_payment(loan, wallet, repaid, actor=None, source="liquidation", fee=fee)
    loan.collateral_amount = collateral - sold
    full = plan.full or sold >= collateral
    shortfall = ZERO
    released = ZERO
    if loan.outstanding_balance == 0:
        released = close_repaid(loan)  # nothing is held any more: what was not sold stays in the wallet
        released = loan.collateral_amount
        loan.collateral_amount = ZERO
        event(
            loan,
            "repaid",
            f"Repaid by liquidation; {show(released, loan.collateral_currency)} {loan.collateral_currency} released",
            price=bid,
        )
    elif full:
        shortfall = loan.outstanding_balance
        released = loan.collateral_amount
        loan.collateral_amount = ZERO
        loan.shortfall = shortfall
        loan.transition_to("defaulted")
        loan.closed_at = utcnow()
        loan.margin_called = False
        refresh_triggers(loan)
        event(loan, "defaulted", f"Shortfall {show(shortfall, cur)} {cur}", price=bid)
    else:
        # Partial: what was not sold stays collateral, held again.
        remaining = loan.collateral_amount
        if remaining > 0:
            new_hold = ledger.place_hold(
                ledger.wallet_for(loan.user_id, loan.collateral_currency), remaining, HOLD_REASON, f"loan:{loan.id}"
            )
            loan.hold_id, loan.hold = new_hold.id, new_hold
        refresh_triggers(loan, bid)
    ltv_after = calc.ltv(loan.outstanding_balance, loan.collateral_amount, bid) if loan.status == "active" else None
    row = LoanLiquidation(
        loan_id=loan.id,
        reason=reason,
        scope="full" if full else "partial",
        order_id=order.id,
        collateral_sold=sold,
        proceeds=proceeds.quantize(q, ROUND_DOWN) if proceeds >= 0 else ZERO,
        fee=fee,
        repaid=repaid,
        collateral_released=released,
        shortfall=shortfall,
        price=bid,
        ltv_before=ltv_before,
        ltv_after=ltv_after,
    )
    db.session.add(row)
    event(
        loan,
        "liquidation",
        f"Sold {show(sold, loan.collateral_currency)} {loan.collateral_currency} for {show(proceeds.quantize(q), cur)} {cur} ({reason})",
        price=bid,
        data={
            "order_id": order.id,
            "repaid": format(repaid, "f"),
            "fee": format(fee, "f"),
            "shortfall": format(shortfall, "f"),
        },
    )
    notify(
        loan.user_id,
        LOAN_LIQUIDATED,
        f"Collateral of loan {loan.id} was sold",
        f"{show(sold, loan.collateral_currency)} {loan.collateral_currency} sold at about {show(bid, cur)} {cur} repaid {show(repaid, cur)} {cur} "
        f"(fee {show(fee, cur)})." + (f" Shortfall: {show(shortfall, cur)} {cur}." if shortfall else ""),
        link=f"/loans/{loan.id}",
        dedupe_key=f"loan:{loan.id}:liquidation:{loan.version}",
    )
    db.session.flush()
    announce(uow, loan)
    return row


def liquidate_overdue(today: date) -> int:
    """The daily job: liquidate loans overdue beyond their grace days (a stale price waits for the next run)."""
    candidates = list(
        db.session.execute(
            select(Loan.id, Loan.due_date, LoanProduct.grace_days)
            .join(LoanProduct, LoanProduct.id == Loan.product_id)
            .where(Loan.status == "active", Loan.due_date < today)
        )
    )
    db.session.rollback()
    done = 0
    for loan_id, due, grace in candidates:
        if today > due + timedelta(days=grace):
            try:
                if liquidate(loan_id, "overdue", today) is not None:
                    done += 1
            except Exception:  # noqa: BLE001
                log.exception("overdue liquidation of loan %s failed", loan_id)
    return done
