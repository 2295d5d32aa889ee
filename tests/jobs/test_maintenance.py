"""Scheduled housekeeping: what the purges delete and keep, the schedule module, the CLI."""

from datetime import timedelta

from rq import Queue, SimpleWorker
from rq.cron import CronScheduler
from sqlalchemy import func, select

from tradeapp.extensions import db
from tradeapp.jobs import QUEUES, maintenance
from tradeapp.models import IdempotencyRecord, LoginThrottle, RefreshToken
from tradeapp.models.types import utcnow
from tradeapp.services.tokens import issue_tokens


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _tokens(user, **states):
    """Refresh tokens named by state: live, expired, revoked_old, revoked_recent."""
    now = utcnow()
    values = {
        "live": {"expires_at": now + timedelta(days=7)},
        "expired": {"expires_at": now - timedelta(minutes=1)},
        "revoked_old": {"expires_at": now + timedelta(days=3), "revoked_at": now - timedelta(days=2)},
        "revoked_recent": {"expires_at": now + timedelta(days=3), "revoked_at": now - timedelta(hours=1)},
    }
    rows = {}
    for name in states:
        row = RefreshToken(jti=f"jti-{name}", user_id=user.id, family=f"fam-{name}", **values[name])
        db.session.add(row)
        rows[name] = row
    db.session.commit()
    return rows


def test_purge_expired_tokens_keeps_live_and_recently_revoked(app, db, user):
    _tokens(user, live=1, expired=1, revoked_old=1, revoked_recent=1)

    assert maintenance.purge_expired_tokens() == 2

    left = set(db.session.scalars(select(RefreshToken.jti)))
    assert left == {"jti-live", "jti-revoked_recent"}
    assert maintenance.purge_expired_tokens() == 0  # idempotent


def test_issued_tokens_survive_the_purge(app, db, user):
    issue_tokens(user)
    assert maintenance.purge_expired_tokens() == 0
    assert _count(RefreshToken) == 1


def test_purge_login_throttles_keeps_locks_and_recent_failures(app, db):
    now = utcnow()
    day_ago = now - timedelta(days=1, minutes=5)
    db.session.add_all(
        [
            LoginThrottle(key="old-unlocked", failures=3, locked_until=None, updated_at=day_ago),
            LoginThrottle(
                key="old-lock-expired", failures=5, locked_until=now - timedelta(hours=20), updated_at=day_ago
            ),
            LoginThrottle(
                key="old-still-locked", failures=9, locked_until=now + timedelta(hours=1), updated_at=day_ago
            ),
            LoginThrottle(key="recent", failures=2, locked_until=None, updated_at=now - timedelta(minutes=5)),
        ]
    )
    db.session.commit()

    assert maintenance.purge_login_throttles() == 2

    assert set(db.session.scalars(select(LoginThrottle.key))) == {"old-still-locked", "recent"}
    assert maintenance.purge_login_throttles() == 0


def test_purge_idempotency_records_after_a_day(app, db, user):
    now = utcnow()
    for key, age in (("old", timedelta(hours=25)), ("fresh", timedelta(hours=1))):
        db.session.add(
            IdempotencyRecord(
                user_id=user.id,
                key=key,
                method="POST",
                path="/api/v1/withdrawals/",
                request_hash="0" * 64,
                created_at=now - age,
            )
        )
    db.session.commit()

    assert maintenance.purge_idempotency_records() == 1
    assert set(db.session.scalars(select(IdempotencyRecord.key))) == {"fresh"}
    assert maintenance.purge_idempotency_records() == 0


def test_purge_jobs_run_on_the_maintenance_queue(rq_app, redis_conn, user):
    from tradeapp.jobs import enqueue

    _tokens(user, expired=1, live=1)
    rq_job = enqueue(maintenance.purge_all, queue="maintenance")
    SimpleWorker([Queue(q, connection=redis_conn) for q in QUEUES], connection=redis_conn).work(burst=True)

    rq_job.refresh()
    assert rq_job.return_value() == {"refresh_tokens": 1, "login_throttles": 0, "idempotency_records": 0}
    db.session.expire_all()
    assert _count(RefreshToken) == 1


def test_schedule_module_loads_into_rq_cron(redis_conn):
    scheduler = CronScheduler(connection=redis_conn)
    scheduler.load_config_from_file("tradeapp.jobs.schedule")

    jobs = {job.func_name: job for job in scheduler.get_jobs()}
    assert set(jobs) == {
        "tradeapp.jobs.maintenance.purge_expired_tokens",
        "tradeapp.jobs.maintenance.purge_login_throttles",
        "tradeapp.jobs.maintenance.purge_idempotency_records",
        "tradeapp.jobs.ledger.reconcile_ledger",
        "tradeapp.jobs.kyc.expire_kyc_approvals",
        "tradeapp.jobs.recovery.recover_stuck_work",
        "tradeapp.jobs.backoffice.store_daily_report",
    }
    import importlib

    for job in jobs.values():
        assert job.queue_name in QUEUES
        assert job.interval or (job.cron and job.next_enqueue_time is not None)
        module_name, _, func_name = job.func_name.rpartition(".")
        assert job.func is getattr(importlib.import_module(module_name), func_name)


def test_cron_enqueues_a_job_a_worker_can_run(rq_app, redis_conn, user):
    _tokens(user, expired=1)
    scheduler = CronScheduler(connection=redis_conn)
    scheduler.load_config_from_file("tradeapp.jobs.schedule")
    cron_job = next(j for j in scheduler.get_jobs() if j.func_name.endswith("purge_expired_tokens"))

    rq_job = cron_job.enqueue(redis_conn)
    SimpleWorker([Queue("maintenance", connection=redis_conn)], connection=redis_conn).work(burst=True)

    rq_job.refresh()
    assert rq_job.return_value() == 1
    db.session.expire_all()
    assert _count(RefreshToken) == 0


def test_jobs_cli(app, db, user):
    _tokens(user, expired=1, live=1)
    runner = app.test_cli_runner()

    result = runner.invoke(args=["jobs", "purge"])
    assert result.exit_code == 0, result.output
    assert "purged 1 refresh tokens" in result.output
    assert "purged 0 login throttles" in result.output
    assert "purged 0 idempotency records" in result.output

    result = runner.invoke(args=["jobs", "list-schedule"])
    assert result.exit_code == 0, result.output
    assert "tradeapp.jobs.maintenance.purge_expired_tokens" in result.output
    assert "queue=maintenance" in result.output
