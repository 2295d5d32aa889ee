"""The staff "mark payout failed" route: the reason is required, the funds come back, the row says so."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.conftest import csrf_token
from tradeapp.models import AuditLog, Hold, Withdrawal
from tradeapp.payouts import SandboxPayout
from tradeapp.services import ledger
from tradeapp.services import withdrawals as service
from tradeapp.services.ledger import Leg

D = Decimal
QUEUE = "/staff/withdrawals/"
HX = {"HX-Request": "true"}
BANK = {"iban": "GB82 WEST 1234 5698 7654 32", "account_holder": "Alice Liddell", "bank_name": "West Bank"}


@pytest.fixture()
def processing(app, db, user, staff_client_factory, monkeypatch):
    """(finance client, a manual bank withdrawal of 100 USD awaiting payment)."""
    SandboxPayout.reset()
    monkeypatch.setitem(app.config, "PAYOUT_PROVIDER_BANK", "manual_bank")
    user.kyc_status, user.is_verified = "approved", True
    wallet = ledger.wallet_for(user, "USD")
    ledger.post("deposit", [Leg(wallet, D("1000")), Leg(ledger.platform_account("clearing:bank", "USD"), D("-1000"))])
    db.session.commit()
    w = service.request_withdrawal(user, "USD", "100", "bank_account", dict(BANK))
    client, staff = staff_client_factory("finance")
    service.approve_withdrawal(staff, w)
    db.session.expire_all()
    assert db.session.get(Withdrawal, w.id).status == "processing"
    yield client, w.id
    SandboxPayout.reset()


def fresh(db, withdrawal_id) -> Withdrawal:
    db.session.expire_all()
    return db.session.get(Withdrawal, withdrawal_id)


def test_mark_failed_releases_the_funds_and_swaps_the_row(db, user, processing):
    client, wid = processing
    r = client.post(
        f"/staff/withdrawals/{wid}/failed",
        data={"csrf_token": csrf_token(client, QUEUE), "reason": "IBAN closed"},
        headers=HX,
    )
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "Marked failed: the funds were released." in html and f"manual-withdrawal-{wid}" in html
    w = fresh(db, wid)
    assert w.status == "failed" and w.failure_reason == "IBAN closed"
    assert db.session.get(Hold, w.hold_id).status == "released"
    assert ledger.wallet_for(user, "USD").locked_balance == 0 and ledger.wallet_for(user, "USD").balance == D("1000")
    assert db.session.scalar(select(AuditLog.action).where(AuditLog.action == "withdrawal.payout_failed"))
    assert ledger.check().ok


@pytest.mark.parametrize("reason", ["", "   "])
def test_mark_failed_without_a_reason_is_422_and_changes_nothing(db, user, processing, reason):
    client, wid = processing
    r = client.post(
        f"/staff/withdrawals/{wid}/failed", data={"csrf_token": csrf_token(client, QUEUE), "reason": reason}, headers=HX
    )
    assert r.status_code == 422 and "Say why the payment failed." in r.get_data(as_text=True)
    assert fresh(db, wid).status == "processing"
    assert ledger.wallet_for(user, "USD").locked_balance > 0


def test_mark_failed_twice_answers_the_illegal_move_in_the_row(db, processing):
    client, wid = processing
    data = {"csrf_token": csrf_token(client, QUEUE), "reason": "IBAN closed"}
    assert client.post(f"/staff/withdrawals/{wid}/failed", data=data, headers=HX).status_code == 200
    r = client.post(f"/staff/withdrawals/{wid}/failed", data=data, headers=HX)
    assert r.status_code == 422 and "manual bank payout awaiting payment" in r.get_data(as_text=True)
    assert fresh(db, wid).failure_reason == "IBAN closed"


def test_mark_failed_without_the_csrf_token_or_the_role_changes_nothing(db, processing, staff_client_factory):
    client, wid = processing
    assert client.post(f"/staff/withdrawals/{wid}/failed", data={"reason": "x"}, headers=HX).status_code == 400
    support, _ = staff_client_factory("support")
    r = support.post(
        f"/staff/withdrawals/{wid}/failed",
        data={"csrf_token": csrf_token(support, "/staff/"), "reason": "x"},
        headers=HX,
    )
    assert r.status_code == 403
    assert fresh(db, wid).status == "processing"
    token = csrf_token(client, QUEUE)
    assert client.post("/staff/withdrawals/999999/failed", data={"csrf_token": token, "reason": "x"}).status_code == 404
