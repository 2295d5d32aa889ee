"""The payout job on real RQ queues: queued on approval, run by a worker, idempotent and crash-safe."""

from decimal import Decimal

import pytest
from rq import Queue, SimpleWorker

from tradeapp.extensions import db
from tradeapp.jobs import enqueue
from tradeapp.jobs.payouts import send_payout
from tradeapp.models import Withdrawal
from tradeapp.payouts import SandboxPayout
from tradeapp.services import ledger
from tradeapp.services import withdrawals as service
from tradeapp.services.ledger import Leg

D = Decimal
BANK = {"iban": "GB82WEST12345698765432", "account_holder": "Alice Liddell"}


@pytest.fixture(autouse=True)
def _sandbox():
    SandboxPayout.reset()
    yield
    SandboxPayout.reset()


@pytest.fixture()
def customer(create_user):
    user = create_user(kyc_status="approved", is_verified=True)
    wallet = ledger.wallet_for(user, "USD")
    ledger.post("deposit", [Leg(wallet, D("500")), Leg(ledger.platform_account("clearing:bank", "USD"), D("-500"))])
    db.session.commit()
    return user


def work(redis_conn) -> None:
    SimpleWorker([Queue("payouts", connection=redis_conn)], connection=redis_conn).work(burst=True)


def status(withdrawal_id) -> str:
    db.session.expire_all()
    return db.session.get(Withdrawal, withdrawal_id).status


def test_approval_queues_the_payout_and_a_worker_sends_it(rq_app, redis_conn, customer, create_staff):
    w = service.request_withdrawal(customer, "USD", "100", "bank_account", dict(BANK))

    service.approve_withdrawal(create_staff(role="finance"), w)

    queue = Queue("payouts", connection=redis_conn)
    assert queue.job_ids == [f"payout-{w.id}"]
    assert status(w.id) == "approved"  # nothing is sent before a worker runs
    work(redis_conn)
    assert status(w.id) == "completed"
    assert SandboxPayout.calls == {f"payout-{w.id}": 1}
    assert ledger.wallet_for(customer, "USD").balance == D("399")
    assert ledger.check().ok


def test_running_the_job_again_is_a_no_op(rq_app, redis_conn, customer, create_staff):
    w = service.request_withdrawal(customer, "USD", "100", "bank_account", dict(BANK))
    service.approve_withdrawal(create_staff(role="finance"), w)
    work(redis_conn)

    enqueue(send_payout, w.id, queue="payouts", job_id=f"payout-{w.id}")
    work(redis_conn)

    assert status(w.id) == "completed"
    assert SandboxPayout.calls == {f"payout-{w.id}": 1}
    db.session.expire_all()
    wallet = ledger.wallet_for(customer, "USD")
    assert wallet.balance == D("399") and wallet.locked_balance == 0
    assert ledger.check().ok


def test_a_worker_killed_after_paying_is_completed_once_by_the_retry(
    rq_app, redis_conn, customer, create_staff, monkeypatch
):
    w = service.request_withdrawal(customer, "USD", "100", "bank_account", dict(BANK))
    service.approve_withdrawal(create_staff(role="finance"), w)
    real_complete = service._complete

    def killed(*args, **kwargs):
        real_complete(*args, **kwargs)
        raise SystemExit("killed before commit")

    monkeypatch.setattr(service, "_complete", killed)
    with pytest.raises(SystemExit):
        send_payout(w.id)
    db.session.rollback()
    assert status(w.id) == "processing"

    monkeypatch.setattr(service, "_complete", real_complete)
    assert send_payout(w.id) == "completed"  # the retry
    assert send_payout(w.id) == "completed"
    assert SandboxPayout.calls == {f"payout-{w.id}": 1}
    assert ledger.wallet_for(customer, "USD").balance == D("399")
    assert ledger.check().ok


def test_a_failed_payout_releases_the_hold(rq_app, redis_conn, customer, create_staff):
    w = service.request_withdrawal(customer, "USD", "100", "bank_account", {**BANK, "account_holder": "FAIL Corp"})
    service.approve_withdrawal(create_staff(role="finance"), w)
    work(redis_conn)

    assert status(w.id) == "failed"
    db.session.expire_all()
    wallet = ledger.wallet_for(customer, "USD")
    assert wallet.balance == D("500") and wallet.available_balance == D("500")
    assert send_payout(w.id) == "failed"
    assert ledger.check().ok
