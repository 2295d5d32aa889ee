"""The withdrawal paths that settle money by hand: mark a manual payout paid or failed, cancel a
request; each guard refused and each rollback proven by a commit that fails."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.faults import InjectedFailure
from tradeapp.errors import IllegalTransition, NotFound, PermissionDenied, ValidationFailed
from tradeapp.mail import outbox_messages
from tradeapp.models import AuditLog, Hold, JournalEntry, Transaction, Withdrawal
from tradeapp.payouts import SandboxPayout
from tradeapp.services import ledger
from tradeapp.services import withdrawals as service
from tradeapp.services.ledger import Leg

D = Decimal
BANK = {"iban": "GB82 WEST 1234 5698 7654 32", "account_holder": "Carol Ross", "bank_name": "West Bank"}


@pytest.fixture(autouse=True)
def _manual_bank(app, monkeypatch):
    SandboxPayout.reset()
    monkeypatch.setitem(app.config, "PAYOUT_PROVIDER_BANK", "manual_bank")
    yield
    SandboxPayout.reset()


@pytest.fixture()
def customer(db, create_user):
    user = create_user(email="carol@example.com", username="carol", kyc_status="approved", is_verified=True)
    wallet = ledger.wallet_for(user, "USD")
    ledger.post("deposit", [Leg(wallet, D("500")), Leg(ledger.platform_account("clearing:bank", "USD"), D("-500"))])
    db.session.commit()
    return user


@pytest.fixture()
def finance(create_staff):
    return create_staff(role="finance")


def books(db, user) -> dict:
    """Everything these paths may change, read fresh."""
    db.session.expire_all()
    wallet = ledger.wallet_for(user, "USD")
    rows = db.session.execute(select(Withdrawal.id, Withdrawal.status, Withdrawal.failure_reason)).all()
    snapshot = {
        "wallet": (wallet.balance, wallet.locked_balance),
        "withdrawals": sorted(tuple(r) for r in rows),
        "holds": sorted(tuple(r) for r in db.session.execute(select(Hold.id, Hold.status, Hold.remaining))),
        "transactions": sorted(tuple(r) for r in db.session.execute(select(Transaction.id, Transaction.status))),
        "entries": db.session.scalar(select(func.count()).select_from(JournalEntry)),
        "audit": db.session.scalar(select(func.count()).select_from(AuditLog)),
    }
    db.session.rollback()
    return snapshot


def awaiting_payment(user, approver, amount="100") -> Withdrawal:
    w = service.request_withdrawal(user, "USD", amount, "bank_account", dict(BANK))
    service.approve_withdrawal(approver, w)
    from tradeapp.extensions import db

    db.session.expire_all()
    w = db.session.get(Withdrawal, w.id)
    assert (w.status, w.payout_provider) == ("processing", "manual_bank")
    return w


def actions(db) -> list[str]:
    return list(db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


# -- mark_payout_paid ---------------------------------------------------------------------------------------


def test_marking_paid_settles_the_hold_into_the_payout_and_fee_accounts(db, customer, finance, create_staff):
    w = awaiting_payment(customer, finance)
    fee = w.fee
    second = create_staff(role="finance")
    bank_before = ledger.platform_account("clearing:bank", "USD").balance
    service.mark_payout_paid(second, w)
    db.session.expire_all()
    w = db.session.get(Withdrawal, w.id)
    assert w.status == "completed" and w.completed_at is not None
    assert w.payout_ref == f"manual-payout-{w.id}"
    assert db.session.get(Hold, w.hold_id).status == "posted"
    assert books(db, customer)["wallet"] == (D("500") - D("100") - fee, 0)
    # paid out through the bank rail: its clearing account gives the money back, nothing stays in flight
    assert ledger.platform_account("clearing:bank", "USD").balance == bank_before + D("100")
    assert ledger.platform_account("payouts_in_flight", "USD").balance == 0
    assert ledger.platform_account("fees", "USD").balance == fee
    tx = db.session.get(Transaction, w.transaction_id)
    assert tx.status == "completed" and tx.external_id == w.payout_ref and tx.entry_id is not None
    assert actions(db)[-1] == "withdrawal.paid"
    assert any(m["subject"] == "Withdrawal sent" for m in outbox_messages())
    assert ledger.check().ok


def test_marking_paid_is_refused_without_permission_for_ones_own_and_when_not_awaiting_payment(
    db, customer, finance, create_staff
):
    w = awaiting_payment(customer, finance)
    before = books(db, customer)
    support = create_staff(role="support")
    with pytest.raises(PermissionDenied):
        service.mark_payout_paid(support, w)
    with pytest.raises(PermissionDenied):
        service.mark_payout_paid(customer, w)
    assert books(db, customer) == before
    pending = service.request_withdrawal(customer, "USD", "50", "bank_account", dict(BANK))
    with pytest.raises(IllegalTransition, match="manual bank payout"):
        service.mark_payout_paid(finance, pending)
    service.mark_payout_paid(finance, w)
    with pytest.raises(IllegalTransition):
        service.mark_payout_paid(finance, w)  # paid twice
    assert ledger.check().ok


def test_staff_cannot_mark_their_own_withdrawal_paid_or_failed(db, finance, create_staff):
    other = create_staff(role="finance")
    wallet = ledger.wallet_for(other, "USD")
    ledger.post("deposit", [Leg(wallet, D("500")), Leg(ledger.platform_account("clearing:bank", "USD"), D("-500"))])
    other.kyc_status, other.is_verified = "approved", True
    db.session.commit()
    w = awaiting_payment(other, finance)
    for attempt in (lambda: service.mark_payout_paid(other, w), lambda: service.mark_payout_failed(other, w, "x")):
        with pytest.raises(PermissionDenied) as exc:
            attempt()
        assert exc.value.code == "self_approval"
    db.session.expire_all()
    assert db.session.get(Withdrawal, w.id).status == "processing"


def test_a_failed_commit_while_marking_paid_leaves_the_payout_waiting(db, customer, finance, failing_commit):
    w = awaiting_payment(customer, finance)
    before = books(db, customer)
    failing_commit()
    with pytest.raises(InjectedFailure):
        service.mark_payout_paid(finance, w)
    db.session.commit()  # a later commit of the same session carries nothing of it
    assert books(db, customer) == before
    service.mark_payout_paid(finance, w)
    assert db.session.get(Withdrawal, w.id).status == "completed"
    assert ledger.check().ok


# -- mark_payout_failed ------------------------------------------------------------------------------------


def test_marking_failed_releases_the_hold_records_the_reason_and_tells_the_customer(db, customer, finance):
    w = awaiting_payment(customer, finance)
    service.mark_payout_failed(finance, w, "  Account\n closed   by the bank ")
    db.session.expire_all()
    w = db.session.get(Withdrawal, w.id)
    assert w.status == "failed" and w.failure_reason == "Account closed by the bank"
    assert db.session.get(Hold, w.hold_id).status == "released"
    assert books(db, customer)["wallet"] == (D("500"), 0)
    tx = db.session.get(Transaction, w.transaction_id)
    assert tx.status == "failed" and tx.notes == "Payout failed: Account closed by the bank"
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "withdrawal.payout_failed")).one()
    assert row.after["reason"] == "Account closed by the bank" and row.before["status"] == "processing"
    assert any(m["subject"] == "Withdrawal failed" for m in outbox_messages())
    with pytest.raises(IllegalTransition):
        service.mark_payout_failed(finance, w, "again")
    with pytest.raises(IllegalTransition):
        service.mark_payout_paid(finance, w)  # a failed payout cannot be paid afterwards
    assert ledger.check().ok


@pytest.mark.parametrize("reason", ["", "   ", "\n\t", None])
def test_marking_failed_needs_a_reason(db, customer, finance, reason):
    w = awaiting_payment(customer, finance)
    before = books(db, customer)
    with pytest.raises(ValidationFailed) as exc:
        service.mark_payout_failed(finance, w, reason)
    assert "reason" in exc.value.fields
    assert books(db, customer) == before


def test_marking_failed_is_refused_without_permission_and_for_a_pending_request(db, customer, finance, create_staff):
    w = awaiting_payment(customer, finance)
    with pytest.raises(PermissionDenied):
        service.mark_payout_failed(create_staff(role="support"), w, "closed")
    pending = service.request_withdrawal(customer, "USD", "50", "bank_account", dict(BANK))
    with pytest.raises(IllegalTransition):
        service.mark_payout_failed(finance, pending, "closed")
    db.session.expire_all()
    assert db.session.get(Withdrawal, pending.id).status == "pending"
    assert db.session.get(Withdrawal, w.id).status == "processing"


def test_a_failed_commit_while_marking_failed_keeps_the_money_held(db, customer, finance, failing_commit):
    w = awaiting_payment(customer, finance)
    before = books(db, customer)
    failing_commit()
    with pytest.raises(InjectedFailure):
        service.mark_payout_failed(finance, w, "closed")
    db.session.commit()
    assert books(db, customer) == before
    assert not any(m["subject"] == "Withdrawal failed" for m in outbox_messages())  # nothing told before commit


# -- cancel_withdrawal -----------------------------------------------------------------------------------


def test_cancel_releases_the_hold_and_is_refused_to_others_and_once_approved(db, customer, finance, create_user):
    w = service.request_withdrawal(customer, "USD", "100", "bank_account", dict(BANK))
    assert books(db, customer)["wallet"][1] > 0
    with pytest.raises(NotFound):
        service.cancel_withdrawal(create_user(), w)
    service.cancel_withdrawal(customer, w)
    db.session.expire_all()
    w = db.session.get(Withdrawal, w.id)
    assert w.status == "cancelled" and db.session.get(Hold, w.hold_id).status == "released"
    assert db.session.get(Transaction, w.transaction_id).status == "cancelled"
    assert books(db, customer)["wallet"] == (D("500"), 0)
    assert actions(db)[-1] == "withdrawal.cancelled"
    with pytest.raises(IllegalTransition):
        service.cancel_withdrawal(customer, w)
    approved = awaiting_payment(customer, finance)
    with pytest.raises(IllegalTransition, match="processing"):
        service.cancel_withdrawal(customer, approved)
    assert ledger.check().ok


def test_a_failed_commit_while_cancelling_keeps_the_request_pending(db, customer, failing_commit):
    w = service.request_withdrawal(customer, "USD", "100", "bank_account", dict(BANK))
    before = books(db, customer)
    failing_commit()
    with pytest.raises(InjectedFailure):
        service.cancel_withdrawal(customer, w)
    db.session.commit()
    assert books(db, customer) == before
    service.cancel_withdrawal(customer, db.session.get(Withdrawal, w.id))
    assert books(db, customer)["wallet"] == (D("500"), 0)
    assert ledger.check().ok
