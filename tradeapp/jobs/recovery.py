"""Re-enqueue work a killed process left behind (every two minutes, from :mod:`tradeapp.jobs.schedule`).

- RQ jobs whose worker died mid-run (*abandoned*): RQ retries those enqueued with ``Retry``
  while retries are left (which needs workers started ``--with-scheduler``); the ones it moved
  to the failed registry are requeued here, under their own id, at most :data:`MAX_RECOVERIES`
  times. Only our jobs (``tradeapp.jobs.…``, all idempotent) and only abandoned ones: a job
  that raised stays failed for a person to read.
- Withdrawals approved or processing with no payout reference for ``WORK_STUCK_MINUTES``: their
  payout job is enqueued again as ``payout-<id>`` (the payout itself is idempotent per key).
- Pairs with resting orders get a trigger check, in case the feed's last one died with a worker.
"""

import logging

from flask import current_app
from rq.registry import FailedJobRegistry

from tradeapp.jobs import QUEUES, enqueue, get_queue, job
from tradeapp.jobs.trading import check_triggers
from tradeapp.queues import abandoned_jobs
from tradeapp.services import recovery
from tradeapp.services.withdrawals import queue_payout

log = logging.getLogger(__name__)

MAX_RECOVERIES = 3


def _busy(queue_name: str, job_id: str) -> bool:
    """Whether ``job_id`` is already waiting or running (a dead run is cleaned up by RQ first)."""
    existing = get_queue(queue_name).fetch_job(job_id)
    return existing is not None and existing.get_status(refresh=True) in ("queued", "scheduled", "deferred", "started")


def recover_rq_jobs() -> int:
    """Requeue our abandoned jobs (each at most MAX_RECOVERIES times); how many were requeued."""
    requeued = 0
    for name in QUEUES:
        registry = FailedJobRegistry(queue=get_queue(name))
        for rq_job in abandoned_jobs(name):
            recoveries = int(rq_job.meta.get("recoveries", 0))
            if recoveries >= MAX_RECOVERIES:
                continue
            rq_job.meta["recoveries"] = recoveries + 1
            rq_job.save_meta()
            registry.requeue(rq_job.id)
            log.warning("requeued abandoned job %s (%s), recovery %d", rq_job.id, rq_job.func_name, recoveries + 1)
            requeued += 1
    return requeued


@job
def recover_stuck_work() -> dict[str, int]:
    """Re-enqueue abandoned jobs, stuck payouts and trigger checks; idempotent, safe to run any time."""
    inline = current_app.config["JOBS_INLINE"]
    counts = {"jobs": 0 if inline else recover_rq_jobs(), "withdrawals": 0, "trigger_checks": 0}
    for withdrawal in recovery.stuck_withdrawals():
        if inline or not _busy("payouts", f"payout-{withdrawal.id}"):
            log.warning("withdrawal %s stuck in %s: payout enqueued again", withdrawal.id, withdrawal.status)
            queue_payout(withdrawal.id)
            counts["withdrawals"] += 1
    for symbol in recovery.pairs_with_resting_orders():
        job_id = f"triggers-{symbol.replace('/', '-')}"
        if inline or not _busy("orders", job_id):
            enqueue(check_triggers, symbol, queue="orders", job_id=job_id, retries=0)
            counts["trigger_checks"] += 1
    if counts["jobs"] or counts["withdrawals"]:
        log.warning("recovered stuck work: %s", counts)
    return counts
