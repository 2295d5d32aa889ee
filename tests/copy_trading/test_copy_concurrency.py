"""Exactly once under races (PostgreSQL): two copy jobs at once, and a worker killed mid-batch then retried."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.concurrency import race
from tests.conftest import PG_URL
from tests.copy_trading.helpers import buy, follow
from tests.trading_helpers import fund
from tradeapp.extensions import db
from tradeapp.models import CopiedTrade, CopySignal, Order
from tradeapp.services import ledger
from tradeapp.services.copy_trading import batch, engine

D = Decimal
postgres_only = pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL")
FOLLOWERS = 50


@pytest.fixture()
def signal_id(lead, create_user, monkeypatch):
    """A master fill with FOLLOWERS followers whose copy job has not run yet."""
    for i in range(FOLLOWERS):
        user = create_user(email=f"f{i}@example.com", username=f"f{i}")
        fund(user, "USD", "1000")
        follow(user, lead)
    with monkeypatch.context() as m:
        m.setattr("tradeapp.services.uow.enqueue", lambda *a, **k: None)  # the job is run by hand below
        master = buy(lead, "1")
    signal_id = db.session.scalar(select(CopySignal.id).where(CopySignal.master_order_id == master.id))
    db.session.rollback()
    return signal_id


def _counts():
    db.session.expire_all()
    copies = db.session.scalar(select(func.count()).select_from(CopiedTrade))
    copied = db.session.scalar(select(func.count()).select_from(CopiedTrade).where(CopiedTrade.status == "copied"))
    orders = db.session.scalar(select(func.count()).select_from(Order).where(Order.source == "copy_trade"))
    distinct = db.session.scalar(select(func.count(func.distinct(CopiedTrade.subscription_id))))
    db.session.rollback()
    return copies, copied, orders, distinct


@postgres_only
def test_the_copy_job_twice_in_parallel_copies_each_follower_exactly_once(app, signal_id):
    results = race(app, 2, lambda i: engine.copy_signal(signal_id, batch=10))
    assert results == ["ok", "ok"], results
    assert _counts() == (FOLLOWERS, FOLLOWERS, FOLLOWERS, FOLLOWERS)
    report = ledger.check()
    assert report.ok, report.problems()


class WorkerKilled(BaseException):
    """The worker process died (SIGKILL): nothing after this point runs, the open transaction is lost."""


@pytest.mark.parametrize("killed_at", [1, 25, 50])
def test_a_worker_killed_mid_batch_then_retried_leaves_no_duplicate_and_none_missing(
    app, signal_id, monkeypatch, killed_at
):
    real = engine.copy_one
    calls = {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == killed_at:
            raise WorkerKilled()
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "copy_one", dying)
    with pytest.raises(WorkerKilled):
        engine.copy_signal(signal_id, batch=10)
    db.session.rollback()
    committed = (killed_at - 1) // 10 * 10  # the batches before the killed one
    assert _counts()[:3] == (committed, committed, committed)
    monkeypatch.setattr(engine, "copy_one", real)
    engine.copy_signal(signal_id, batch=10)  # RQ's retry
    engine.copy_signal(signal_id, batch=10)  # and a sweep's duplicate run
    assert _counts() == (FOLLOWERS, FOLLOWERS, FOLLOWERS, FOLLOWERS)
    assert db.session.get(CopySignal, signal_id).processed_at is not None
    report = ledger.check()
    assert report.ok, report.problems()


def test_a_failing_batch_falls_back_to_one_follower_per_transaction(app, signal_id, monkeypatch):
    """One follower whose order cannot be placed costs only that follower their copy (recorded as failed).

    The victim's order fails wherever it is placed: one by one (``place``) or booked with the batch's.
    """
    real, real_fill = engine.place, batch.fill
    victim = {"user": None}

    def refuse(user_id):
        if victim["user"] is None:
            victim["user"] = user_id
        if user_id == victim["user"]:
            raise RuntimeError("exchange refused")

    def flaky(user_id, *args, **kwargs):
        refuse(user_id)
        return real(user_id, *args, **kwargs)

    def flaky_fill(signal, pair, book, plans, uow):
        for plan in plans:
            refuse(plan.sub.follower_id)
        return real_fill(signal, pair, book, plans, uow)

    monkeypatch.setattr(engine, "place", flaky)
    monkeypatch.setattr(batch, "fill", flaky_fill)
    totals = engine.copy_signal(signal_id, batch=10)
    assert totals == {"copied": FOLLOWERS - 1, "failed": 1}
    failed = db.session.scalar(select(CopiedTrade).where(CopiedTrade.status == "failed"))
    assert failed.reason == "order_failed" and failed.follower_order_id is None
    assert _counts()[:3] == (FOLLOWERS, FOLLOWERS - 1, FOLLOWERS - 1)
    assert ledger.check().ok


@postgres_only
def test_the_copy_split_over_two_workers_copies_each_follower_exactly_once(app, signal_id):
    results = race(app, 2, lambda i: engine.copy_signal(signal_id, batch=10, part=i, parts=2))
    assert results == ["ok", "ok"], results
    assert _counts() == (FOLLOWERS, FOLLOWERS, FOLLOWERS, FOLLOWERS)
    assert db.session.get(CopySignal, signal_id).processed_at is not None
    assert ledger.check().ok


def test_dispatch_fans_out_in_parts_and_a_part_alone_leaves_the_signal_open(app, signal_id, monkeypatch):
    engine.copy_signal(signal_id, batch=10, part=0, parts=2)
    half = _counts()[0]
    assert 0 < half < FOLLOWERS
    assert db.session.get(CopySignal, signal_id).processed_at is None  # the other part is still owed
    monkeypatch.setitem(app.config, "COPY_WORKERS", 2)
    engine.dispatch(signal_id)  # inline here: both parts run; the first finds nothing left
    assert _counts() == (FOLLOWERS, FOLLOWERS, FOLLOWERS, FOLLOWERS)
    db.session.expire_all()
    assert db.session.get(CopySignal, signal_id).processed_at is not None
