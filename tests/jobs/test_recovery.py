"""Stuck work after a worker dies: abandoned jobs and stuck payouts are re-enqueued, once, and shown to staff."""

from datetime import timedelta
from decimal import Decimal

import pytest
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.registry import FailedJobRegistry, StartedJobRegistry

from tests.jobs.test_payouts import BANK, customer, status  # noqa: F401 - fixtures
from tradeapp.extensions import db
from tradeapp.jobs import recovery
from tradeapp.jobs.payouts import send_payout
from tradeapp.models import Withdrawal
from tradeapp.models.types import utcnow
from tradeapp.payouts import SandboxPayout
from tradeapp.queues import stuck_jobs
from tradeapp.services import ledger
from tradeapp.services import recovery as recovery_service
from tradeapp.services import withdrawals as service

D = Decimal


@pytest.fixture(autouse=True)
def _sandbox():
    SandboxPayout.reset()
    yield
    SandboxPayout.reset()


def _work(redis_conn, name="payouts"):
    SimpleWorker([Queue(name, connection=redis_conn)], connection=redis_conn).work(burst=True)


def _stuck_processing(customer, staff, redis_conn) -> int:  # noqa: F811
    """A withdrawal a killed worker left in ``processing``, its job gone from every queue."""
    w = service.request_withdrawal(customer, "USD", "100", "bank_account", dict(BANK))
    service.approve_withdrawal(staff, w)
    Queue("payouts", connection=redis_conn).empty()
    row = db.session.get(Withdrawal, w.id)
    row.status = "processing"
    row.payout_provider = "sandbox"
    row.transaction.status = "processing"
    row.decided_at = utcnow() - timedelta(minutes=30)
    db.session.commit()
    return w.id


def test_a_payout_stuck_in_processing_is_paid_once(rq_app, redis_conn, customer, create_staff):  # noqa: F811
    withdrawal_id = _stuck_processing(customer, create_staff(role="finance"), redis_conn)
    assert [w.id for w in recovery_service.stuck_withdrawals()] == [withdrawal_id]

    first = recovery.recover_stuck_work()
    second = recovery.recover_stuck_work()  # the job is queued: not enqueued twice
    assert first["withdrawals"] == 1 and second["withdrawals"] == 0
    assert Queue("payouts", connection=redis_conn).job_ids == [f"payout-{withdrawal_id}"]

    _work(redis_conn)
    assert status(withdrawal_id) == "completed"
    assert SandboxPayout.calls == {f"payout-{withdrawal_id}": 1}
    assert recovery_service.stuck_withdrawals() == []
    assert recovery.recover_stuck_work()["withdrawals"] == 0
    assert ledger.check().ok


def test_a_recent_or_exported_payout_is_not_stuck(rq_app, redis_conn, customer, create_staff):  # noqa: F811
    withdrawal_id = _stuck_processing(customer, create_staff(role="finance"), redis_conn)
    row = db.session.get(Withdrawal, withdrawal_id)
    row.payout_ref = "manual-payout-x"  # exported for finance to pay by hand: waiting on purpose
    db.session.commit()
    assert recovery_service.stuck_withdrawals() == []
    row.payout_ref = None
    row.decided_at = utcnow()
    db.session.commit()
    assert recovery_service.stuck_withdrawals() == []


def _abandon(redis_conn, queue_name: str, job: Job) -> None:
    """What a SIGKILLed worker leaves: the job in the started registry, its heartbeat expired."""
    queue = Queue(queue_name, connection=redis_conn)
    queue.remove(job.id)
    registry = StartedJobRegistry(queue=queue)
    redis_conn.zadd(registry.key, {f"{job.id}:dead-execution": 1})


def test_an_abandoned_job_of_ours_is_requeued_at_most_three_times(rq_app, redis_conn):
    queue = Queue("payouts", connection=redis_conn)
    job = queue.enqueue(send_payout, 424242, job_id="payout-424242")  # no Retry: RQ fails it for good
    for attempt in range(1, 5):
        _abandon(redis_conn, "payouts", job)
        abandoned, _ = stuck_jobs()
        assert abandoned == {"payouts": ["payout-424242"]}
        requeued = recovery.recover_rq_jobs()
        assert requeued == (1 if attempt <= recovery.MAX_RECOVERIES else 0)
        if requeued:
            assert queue.job_ids == ["payout-424242"]
            assert Job.fetch("payout-424242", connection=redis_conn).meta["recoveries"] == attempt


def test_a_job_that_raised_or_is_not_ours_stays_failed(rq_app, redis_conn):
    queue = Queue("default", connection=redis_conn)
    foreign = queue.enqueue("os.getpid", job_id="not-ours")
    _abandon(redis_conn, "default", foreign)
    raised = queue.enqueue("tradeapp.jobs.recovery.no_such_function", job_id="raised")
    _work(redis_conn, "default")
    assert recovery.recover_rq_jobs() == 0
    failed = FailedJobRegistry(queue=queue)
    assert {"not-ours", "raised"} <= set(failed.get_job_ids())
    assert raised.get_status(refresh=True) == "failed"


def test_the_schedule_runs_the_recovery_and_workers_run_retries():
    from tests.jobs.test_procfile import _procfile
    from tradeapp.jobs.schedule import SCHEDULE

    assert any(e["func"] is recovery.recover_stuck_work for e in SCHEDULE)
    assert "--with-scheduler" in _procfile()["worker"].split()
    assert "--with-scheduler" in _procfile()["orders"].split()


def test_staff_dashboard_shows_stuck_work(rq_app, redis_conn, customer, staff_client_factory, create_staff):  # noqa: F811
    client, _ = staff_client_factory("support")
    page = client.get("/staff/").get_data(as_text=True)
    assert "Stuck work" in page and "Nothing stuck" in page

    withdrawal_id = _stuck_processing(customer, create_staff(role="finance"), redis_conn)
    queue = Queue("mail", connection=redis_conn)
    _abandon(redis_conn, "mail", queue.enqueue(send_payout, 1, job_id="mail-job-1"))
    page = client.get("/staff/").get_data(as_text=True)
    assert f"#{withdrawal_id}" in page and "processing" in page
    assert "mail-job-1" in page and "abandoned by a dead worker" in page
