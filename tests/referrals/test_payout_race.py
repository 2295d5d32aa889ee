"""PostgreSQL: two payout runs in parallel, one SIGKILLed mid-transaction, then a re-run: each reward paid once."""

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import PG_URL, REDIS_URL
from tests.referrals.helpers import after_clearing, setup_programme, sign_up
from tradeapp.extensions import db
from tradeapp.models import JournalEntry, Referral, ReferralReward, Transaction
from tradeapp.services import ledger, referrals
from tradeapp.services.uow import unit_of_work

D = Decimal
N = 30

pytestmark = pytest.mark.skipif(not PG_URL, reason="row locks and a killed backend need PostgreSQL")


def _child(tmp_path: Path, name: str, **env) -> subprocess.Popen:
    environment = {
        **os.environ,
        "CHILD_DB_URL": db.engine.url.render_as_string(hide_password=False),
        "CHILD_REDIS_URL": REDIS_URL or "",
        "CHILD_INSTANCE": str(tmp_path / name),
        **{k: str(v) for k, v in env.items()},
    }
    root = Path(__file__).resolve().parents[2]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.referrals.payout_child"],
        cwd=root,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_parallel_runs_and_a_killed_run_pay_each_reward_exactly_once(db, create_user, tmp_path):
    setup_programme(cap="0")
    referrer = create_user()
    friend = sign_up(referrer)
    referral = db.session.scalar(select(Referral).where(Referral.referee_id == friend.id))
    for i in range(N):
        referrals.create_reward(referral, "trading_commission", D("1.25") + i, "USD", f"commission:test:{i}")
    db.session.commit()
    ids = [r.id for r in db.session.scalars(select(ReferralReward).order_by(ReferralReward.id))]
    assert len(ids) == N
    db.session.rollback()

    marker = tmp_path / "stalled"
    killed = _child(tmp_path, "a", STALL_AT=5, STALL_MARKER=marker, SLOW="0.02")
    parallel = _child(tmp_path, "b", SLOW="0.05")
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert killed.poll() is None, killed.stdout.read().decode()
        assert time.monotonic() < deadline, "the first run never reached its stall point"
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait(30)
    out, _ = parallel.communicate(timeout=300)
    assert parallel.returncode == 0, out.decode()

    # the re-run (the next cron slot) pays what the killed run left
    referrals.pay_due_rewards(now=after_clearing(30))
    db.session.expire_all()

    statuses = db.session.execute(select(ReferralReward.status, func.count()).group_by(ReferralReward.status)).all()
    assert dict(statuses) == {"paid": N}
    for reward_id in ids:
        entries = db.session.scalar(
            select(func.count())
            .select_from(JournalEntry)
            .where(JournalEntry.reference == f"referral_reward:{reward_id}", JournalEntry.kind == "referral_reward")
        )
        assert entries == 1, reward_id
    assert (
        db.session.scalar(
            select(func.count()).select_from(Transaction).where(Transaction.transaction_type == "referral_bonus")
        )
        == N
    )
    expected = sum((D("1.25") + i for i in range(N)), D(0))
    assert ledger.wallet_for(referrer, "USD").balance == expected
    report = ledger.check()
    assert report.ok, report.problems()


def test_concurrent_rewards_of_one_referrer_never_exceed_the_monthly_cap(app, db, create_user):
    from tests.concurrency import race

    setup_programme(cap="25")
    referrer = create_user()
    friends = [sign_up(referrer) for _ in range(6)]
    referral_ids = [db.session.scalar(select(Referral.id).where(Referral.referee_id == f.id)) for f in friends]
    db.session.rollback()

    def work(i):
        with unit_of_work():
            referral = db.session.get(Referral, referral_ids[i])
            referrals.create_reward(referral, "signup", D("10"), "USD", f"race:{i}")

    assert race(app, 6, work) == ["ok"] * 6
    db.session.expire_all()
    amounts = sorted(db.session.scalars(select(ReferralReward.amount)), reverse=True)
    assert sum(amounts, D(0)) == D("25")
    assert amounts == [D("10"), D("10"), D("5"), D("0"), D("0"), D("0")]


def test_the_same_reward_created_concurrently_exists_once(app, db, create_user):
    from tests.concurrency import race

    setup_programme()
    referrer = create_user()
    friend = sign_up(referrer)
    referral_id = db.session.scalar(select(Referral.id).where(Referral.referee_id == friend.id))
    db.session.rollback()

    def work(i):
        with unit_of_work():
            referrals.create_reward(db.session.get(Referral, referral_id), "signup", D("10"), "USD", "signup:same")

    assert race(app, 5, work) == ["ok"] * 5
    assert db.session.scalar(select(func.count()).select_from(ReferralReward)) == 1
