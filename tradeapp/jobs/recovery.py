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
from rq.job import Job
from rq.registry import FailedJobRegistry, StartedJobRegistry

from tradeapp.jobs import QUEUES, enqueue, get_queue, job

log = logging.getLogger(__name__)

OURS = "tradeapp.jobs."
ABANDONED = "AbandonedJobError"
MAX_RECOVERIES = 3
#: how many failed jobs per queue one run looks at
SCAN_LIMIT = 500


def _is_abandoned(rq_job: Job) -> bool:
    return ABANDONED in (rq_job.exc_info or "") or ABANDONED in str(getattr(rq_job.latest_result(), "exc_string", ""))


def _abandoned_in(queue_name: str) -> list[Job]:
    """Our jobs in ``queue_name`` whose worker died, after RQ's own cleanup of expired runs."""
    queue = get_queue(queue_name)
    StartedJobRegistry(queue=queue).cleanup()  # expired heartbeats: retried, or moved to failed
    failed = FailedJobRegistry(queue=queue)
    ids = failed.get_job_ids(0, SCAN_LIMIT - 1)
    found = []
    for rq_job in Job.fetch_many(ids, connection=queue.connection):
        if rq_job is not None and (rq_job.func_name or "").startswith(OURS) and _is_abandoned(rq_job):
            found.append(rq_job)
    return found


def stuck_jobs() -> tuple[dict[str, list[str]], dict[str, int]]:
    """(abandoned job ids by queue, failed-job counts by queue) for the staff dashboard."""
    abandoned, failed = {}, {}
    for name in QUEUES:
        ids = [j.id for j in _abandoned_in(name)]
        if ids:
            abandoned[name] = ids
        count = FailedJobRegistry(queue=get_queue(name)).count - len(ids)
        if count:
            failed[name] = count
    return abandoned, failed


def _busy(queue_name: str, job_id: str) -> bool:
    """Whether ``job_id`` is already waiting or running (a dead run is cleaned up by RQ first)."""
    existing = get_queue(queue_name).fetch_job(job_id)
    return existing is not None and existing.get_status(refresh=True) in ("queued", "scheduled", "deferred", "started")


def recover_rq_jobs() -> int:
    """Requeue our abandoned jobs (each at most MAX_RECOVERIES times); how many were requeued."""
    requeued = 0
    for name in QUEUES:
        registry = FailedJobRegistry(queue=get_queue(name))
        for rq_job in _abandoned_in(name):
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
    from tradeapp.jobs.trading import check_triggers
    from tradeapp.services import recovery
    from tradeapp.services.withdrawals import queue_payout

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
