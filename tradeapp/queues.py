"""The one seam for enqueuing jobs: named queues, the Redis connection, ``enqueue``.

A leaf module (Flask, Redis and RQ only): services, mail and the feed enqueue jobs through it by
dotted name (``"tradeapp.jobs.payouts.send_payout"``) without importing the job modules, which
import the services. ``tradeapp.jobs`` re-exports these names, so ``jobs.enqueue`` is this seam.

In embedded mode (``JOBS_INLINE``) a job runs in-process at once, so ``make run`` needs no
Redis; otherwise it goes to the named RQ queue and a ``rq worker`` runs it.
"""

import logging
from collections.abc import Callable
from typing import Any

from flask import current_app
from redis import Redis
from rq import Queue, Retry
from rq.job import Job
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.utils import import_attribute

log = logging.getLogger(__name__)

#: queues by purpose; ``rq worker`` listens to all of them in this priority order
QUEUES = ("orders", "payouts", "mail", "signals", "bots", "default", "maintenance")


def redis_connection() -> Redis:
    """The app's Redis client (one connection pool per app; tests may put their own in place)."""
    conn = current_app.extensions.get("tradeapp.redis")
    if conn is None:
        url = current_app.config["REDIS_URL"]
        if not url:
            raise RuntimeError("REDIS_URL is not set")
        conn = current_app.extensions["tradeapp.redis"] = Redis.from_url(url)
    return conn


def get_queue(name: str = "default") -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=redis_connection())


def enqueue(
    func: Callable | str,
    *args: Any,
    queue: str = "default",
    job_id: str | None = None,
    retries: int = 3,
    **kwargs: Any,
):
    """Run ``func(*args, **kwargs)`` as a job: in-process when inline, on RQ otherwise.

    ``func`` is the job function or its dotted name (``"tradeapp.jobs.mail.send_rendered"``);
    services pass names so they never import the job modules. ``job_id`` deduplicates: a job
    with that id still queued is not enqueued again.
    """
    if current_app.config["JOBS_INLINE"]:
        target = import_attribute(func) if isinstance(func, str) else func
        log.debug("running job %s inline", getattr(target, "__name__", func))
        return target(*args, **kwargs)
    q = get_queue(queue)
    if job_id is not None:
        existing = q.fetch_job(job_id)
        if existing is not None and existing.get_status(refresh=True) in ("queued", "scheduled", "deferred"):
            return existing
    return q.enqueue(
        func,
        *args,
        job_id=job_id,
        retry=Retry(max=retries, interval=[5, 30, 120][:retries]) if retries else None,
        **kwargs,
    )


# Stuck work: what RQ's registries say about our jobs (the recovery job and the staff dashboard).
OURS = "tradeapp.jobs."
ABANDONED = "AbandonedJobError"
#: how many failed jobs per queue one run looks at
SCAN_LIMIT = 500


def _is_abandoned(rq_job: Job) -> bool:
    return ABANDONED in (rq_job.exc_info or "") or ABANDONED in str(getattr(rq_job.latest_result(), "exc_string", ""))


def abandoned_jobs(queue_name: str) -> list[Job]:
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
        ids = [j.id for j in abandoned_jobs(name)]
        if ids:
            abandoned[name] = ids
        count = FailedJobRegistry(queue=get_queue(name)).count - len(ids)
        if count:
            failed[name] = count
    return abandoned, failed
