"""RQ jobs: the ``job`` decorator, and the enqueue seam re-exported from :mod:`tradeapp.queues`.

Jobs take ids and plain values, run in an app context and must be safe to run twice. Services
enqueue them by dotted name through ``enqueue`` (the same function as ``tradeapp.queues.enqueue``).
"""

import functools
import logging
from collections.abc import Callable

from flask import has_app_context
from rq import get_current_job

from tradeapp.queues import QUEUES, enqueue, get_queue, redis_connection

log = logging.getLogger(__name__)

__all__ = ["QUEUES", "enqueue", "get_queue", "job", "job_app", "redis_connection"]

_app = None


def job_app():
    """The Flask app a worker process runs jobs in (built once per process)."""
    global _app
    if _app is None:
        # Imported here: the app factory imports every blueprint and CLI (jobs among them), and a
        # web process that only enqueues never builds a worker app.
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
        with job_app().app_context():
            return func(*args, **kwargs)

    return wrapper
