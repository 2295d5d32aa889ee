"""RQ worker classes: ``AppWorker`` builds the Flask app once, before forking; ``OrdersWorker`` never forks.

A plain ``rq worker`` also works (each job builds the app in its work horse, see
``tradeapp.jobs.job``); this class saves that start-up cost per job.
"""

import logging

from rq import SimpleWorker, Worker

from tradeapp.extensions import db
from tradeapp.jobs import job_app


class AppWorker(Worker):
    """An RQ worker whose forked work horses inherit a ready app."""

    def bootstrap(self, *args, **kwargs):
        job_app()
        # RQ logs through its own handlers; the app's root handler would print every line twice.
        logging.getLogger("rq").propagate = False
        return super().bootstrap(*args, **kwargs)

    def main_work_horse(self, job, queue):
        # SQLAlchemy's fork rule: the child must not reuse the parent's pooled connections.

        with job_app().app_context():
            db.engine.dispose(close=False)
        return super().main_work_horse(job, queue)


class OrdersWorker(SimpleWorker):
    """``rq worker -w tradeapp.jobs.worker.OrdersWorker orders``: runs jobs in its own warm process.

    The trigger check runs on every tick and must fill within milliseconds, so it skips the fork
    (and the cold SQLAlchemy statement cache and new database connection a fork costs). Order jobs
    are short, idempotent and settle each order in its own transaction, so they do not need the
    crash isolation of a work horse; payouts and the other queues keep it (``AppWorker``).
    """

    def bootstrap(self, *args, **kwargs):
        job_app()
        logging.getLogger("rq").propagate = False
        return super().bootstrap(*args, **kwargs)

    def execute_job(self, job, queue):
        try:
            return super().execute_job(job, queue)
        finally:
            # one job's session must not leak into the next
            with job_app().app_context():
                db.session.remove()
