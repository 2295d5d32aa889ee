"""Staff views of the signals business: subscription revenue and signal outcomes (read only)."""

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import func, select

from tradeapp.extensions import db
from tradeapp.models import SignalPlan, SignalSubscription, TradingSignal, Transaction
from tradeapp.models.signals import CURRENT_STATUSES
from tradeapp.models.types import utcnow


def revenue() -> dict:
    """Charges per plan and per month (from the customers' ``signal_purchase`` lines, which the ledger
    entries back one to one), and subscriptions per plan by status."""
    rows = db.session.execute(
        select(Transaction.reference_id, Transaction.amount, Transaction.currency, Transaction.created_at).where(
            Transaction.transaction_type == "signal_purchase", Transaction.status == "completed"
        )
    ).all()
    sub_plan = dict(db.session.execute(select(SignalSubscription.id, SignalSubscription.plan_id)).all())
    plans = {p.id: p for p in db.session.scalars(select(SignalPlan))}
    by_plan: dict[int, dict] = defaultdict(lambda: {"charges": 0, "amount": Decimal(0)})
    by_month: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for reference, amount, currency, created in rows:
        # SIG-<subscription>-<period>
        parts = reference.split("-")
        plan_id = sub_plan.get(int(parts[1])) if len(parts) == 3 and parts[1].isdigit() else None
        if plan_id is not None:
            by_plan[plan_id]["charges"] += 1
            by_plan[plan_id]["amount"] += amount
        by_month[(created.strftime("%Y-%m"), currency)] += amount
        totals[currency] += amount
    now = utcnow()
    counts = db.session.execute(
        select(SignalSubscription.plan_id, SignalSubscription.status, func.count())
        .where((SignalSubscription.expires_at > now) | (SignalSubscription.status == "expired"))
        .group_by(SignalSubscription.plan_id, SignalSubscription.status)
    ).all()
    subs: dict[int, dict[str, int]] = defaultdict(lambda: {s: 0 for s in (*CURRENT_STATUSES, "expired")})
    for plan_id, status, n in counts:
        subs[plan_id][status] = n
    return {
        "plans": [
            {"plan": plans[pid], **by_plan.get(pid, {"charges": 0, "amount": Decimal(0)}), "subs": subs[pid]}
            for pid in sorted(plans, key=lambda i: (plans[i].provider_id, i))
        ],
        "by_month": sorted(by_month.items(), reverse=True),
        "totals": dict(totals),
    }


def outcomes_query(status: str | None = None, provider_id: int | None = None):
    query = select(TradingSignal).order_by(TradingSignal.id.desc())
    if status:
        query = query.where(TradingSignal.status == status)
    if provider_id:
        query = query.where(TradingSignal.provider_id == provider_id)
    return query


def active_signals() -> int:
    return db.session.scalar(select(func.count()).where(TradingSignal.status == "active"))
