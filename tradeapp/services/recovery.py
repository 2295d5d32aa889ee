"""Work a killed process left half-done, as the database sees it: payouts and crossed orders.

Read-only: the recovery job (:mod:`tradeapp.jobs.recovery`) re-enqueues what these find, and
the staff dashboard shows it. Every job it re-enqueues is idempotent, under a deterministic id.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from tradeapp.extensions import db
from tradeapp.models import Withdrawal
from tradeapp.models.trading import LIVE_STATUSES, Order, TradingPair
from tradeapp.models.types import utcnow
from tradeapp.queues import stuck_jobs


def stuck_cutoff() -> datetime:
    """Work untouched since before this is stuck (``WORK_STUCK_MINUTES`` ago)."""
    return utcnow() - timedelta(minutes=current_app.config["WORK_STUCK_MINUTES"])


def stuck_withdrawals(limit: int = 100) -> list[Withdrawal]:
    """Approved or processing withdrawals with no payout reference, decided before the cutoff.

    A manual bank export has its reference (it waits for finance on purpose); a payout whose job
    died between "processing" and the provider's answer has none.
    """
    query = (
        select(Withdrawal)
        .where(
            Withdrawal.status.in_(("approved", "processing")),
            Withdrawal.payout_ref.is_(None),
            func.coalesce(Withdrawal.decided_at, Withdrawal.created_at) < stuck_cutoff(),
        )
        .order_by(Withdrawal.decided_at, Withdrawal.id)
        .limit(limit)
    )
    return list(db.session.scalars(query))


def pairs_with_resting_orders() -> list[str]:
    """Symbols of active pairs that have live orders waiting for a trigger (limit, stop…)."""
    query = (
        select(TradingPair.symbol)
        .where(TradingPair.is_active, TradingPair.id.in_(select(Order.pair_id).where(Order.status.in_(LIVE_STATUSES))))
        .order_by(TradingPair.symbol)
    )
    return list(db.session.scalars(query))


@dataclass
class StuckWork:
    """What the staff dashboard shows: stuck rows and stuck jobs, by queue."""

    withdrawals: list[Withdrawal] = field(default_factory=list)
    #: queue → ids of jobs whose worker died (abandoned) or that failed after their last retry
    abandoned_jobs: dict[str, list[str]] = field(default_factory=dict)
    failed_jobs: dict[str, int] = field(default_factory=dict)
    jobs_error: str = ""

    @property
    def total(self) -> int:
        return len(self.withdrawals) + sum(map(len, self.abandoned_jobs.values())) + sum(self.failed_jobs.values())


def stuck_work() -> StuckWork:
    """Stuck rows, and stuck jobs when jobs run on RQ (``jobs_error`` says if Redis did not answer)."""
    work = StuckWork(withdrawals=stuck_withdrawals())
    if current_app.config["JOBS_INLINE"]:
        return work
    try:
        work.abandoned_jobs, work.failed_jobs = stuck_jobs()
    except Exception as exc:  # noqa: BLE001 - the dashboard must render while Redis is down
        work.jobs_error = str(exc) or exc.__class__.__name__
    return work
