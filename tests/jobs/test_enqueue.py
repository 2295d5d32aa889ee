"""The enqueue helper: in-process when inline, RQ queues otherwise; a SimpleWorker runs them."""

import pytest
from rq import Queue, SimpleWorker
from rq.job import JobStatus

from tests.jobs import sample
from tradeapp.extensions import db
from tradeapp.jobs import QUEUES, enqueue, get_queue
from tradeapp.models import User


def test_inline_mode_runs_the_function_at_once(app, db, create_user):
    user = create_user(username="before")
    assert app.config["JOBS_INLINE"] is True

    result = enqueue(sample.rename_user, user.id, "after", queue="default")

    db.session.expire_all()
    assert db.session.get(User, user.id).username == "after"
    assert result in ("sqlite", "postgresql+psycopg")


def test_queued_job_waits_for_a_worker_then_runs_against_the_test_db(rq_app, redis_conn, create_user):
    user = create_user(username="before")

    rq_job = enqueue(sample.rename_user, user.id, "renamed", queue="mail")

    assert rq_job.origin == "mail"
    assert Queue("mail", connection=redis_conn).job_ids == [rq_job.id]
    db.session.expire_all()
    assert db.session.get(User, user.id).username == "before"  # nothing ran yet

    worker = SimpleWorker([Queue(name, connection=redis_conn) for name in QUEUES], connection=redis_conn)
    assert worker.work(burst=True) is True

    rq_job.refresh()
    assert rq_job.get_status() == JobStatus.FINISHED
    assert rq_job.return_value() == rq_app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]
    db.session.expire_all()
    assert db.session.get(User, user.id).username == "renamed"


def test_a_job_id_still_queued_is_not_enqueued_twice(rq_app, redis_conn, create_user):
    user = create_user()

    first = enqueue(sample.rename_user, user.id, "one", queue="default", job_id=f"rename-{user.id}")
    second = enqueue(sample.rename_user, user.id, "two", queue="default", job_id=f"rename-{user.id}")

    assert second.id == first.id
    assert Queue("default", connection=redis_conn).count == 1
    SimpleWorker([Queue("default", connection=redis_conn)], connection=redis_conn).work(burst=True)
    db.session.expire_all()
    assert db.session.get(User, user.id).username == "one"

    # Once the first one finished, the same id may run again.
    third = enqueue(sample.rename_user, user.id, "three", queue="default", job_id=f"rename-{user.id}")
    assert third.get_status() == JobStatus.QUEUED
    SimpleWorker([Queue("default", connection=redis_conn)], connection=redis_conn).work(burst=True)
    db.session.expire_all()
    assert db.session.get(User, user.id).username == "three"


def test_failing_jobs_are_retried(rq_app, redis_conn):
    rq_job = enqueue(sample.rename_user, 999_999, "ghost", queue="default", retries=2)

    assert rq_job.retries_left == 2
    SimpleWorker([Queue("default", connection=redis_conn)], connection=redis_conn).work(burst=True)
    rq_job.refresh()
    # The user does not exist: the job failed and is scheduled for another attempt, not dropped.
    assert rq_job.retries_left == 1
    assert rq_job.get_status() in (JobStatus.SCHEDULED, JobStatus.QUEUED)


def test_unknown_queue_is_refused(rq_app):
    with pytest.raises(ValueError, match="unknown queue"):
        get_queue("nope")


def test_queued_mode_without_redis_url_says_so(app, db, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_INLINE", False)
    monkeypatch.setitem(app.config, "REDIS_URL", "")
    monkeypatch.delitem(app.extensions, "tradeapp.redis", raising=False)
    with pytest.raises(RuntimeError, match="REDIS_URL"):
        enqueue(sample.count_users)
