"""``rq worker -w tradeapp.jobs.worker.AppWorker``: builds the Flask app once, before forking.

A plain ``rq worker`` also works (each job builds the app in its work horse, see
``tradeapp.jobs.job``); this class saves that start-up cost per job.
"""

import logging

from rq import Worker

from tradeapp.jobs import _job_app


class AppWorker(Worker):
    """An RQ worker whose forked work horses inherit a ready app."""

    def bootstrap(self, *args, **kwargs):
        _job_app()
        # RQ logs through its own handlers; the app's root handler would print every line twice.
        logging.getLogger("rq").propagate = False
        return super().bootstrap(*args, **kwargs)

    def main_work_horse(self, job, queue):
        # SQLAlchemy's fork rule: the child must not reuse the parent's pooled connections.
        from tradeapp.extensions import db

        with _job_app().app_context():
            db.engine.dispose(close=False)
        return super().main_work_horse(job, queue)
