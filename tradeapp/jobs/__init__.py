"""RQ jobs: named queues and one enqueue helper.

In embedded mode (``JOBS_INLINE``) a job runs in-process at once, so ``make run`` needs no
Redis; otherwise it goes to the named RQ queue and a ``rq worker`` runs it. Jobs take ids
and plain values, run in an app context and must be safe to run twice.
"""

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import current_app, has_app_context
from redis import Redis
from rq import Queue, Retry, get_current_job

log = logging.getLogger(__name__)

#: queues by purpose; ``rq worker`` listens to all of them in this priority order
QUEUES = ("orders", "payouts", "mail", "signals", "bots", "default", "maintenance")

_app = None


def _job_app():
    """The Flask app a worker process runs jobs in (built once per process)."""
    global _app
    if _app is None:
        from tradeapp import create_app

        _app = create_app()
    return _app


def job(func: Callable) -> Callable:
    """Run ``func`` inside an app context, reusing the current one when there is one."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        current = get_current_job()
        if current is not None:
            log.info("job %s: %s.%s", current.id, func.__module__, func.__name__)
        if has_app_context():
            return func(*args, **kwargs)
        with _job_app().app_context():
            return func(*args, **kwargs)

    return wrapper


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
    func: Callable, *args: Any, queue: str = "default", job_id: str | None = None, retries: int = 3, **kwargs: Any
):
    """Run ``func(*args, **kwargs)`` as a job: in-process when inline, on RQ otherwise.

    ``job_id`` deduplicates: a job with that id still queued is not enqueued again.
    """
    if current_app.config["JOBS_INLINE"]:
        log.debug("running job %s inline", func.__name__)
        return func(*args, **kwargs)
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
