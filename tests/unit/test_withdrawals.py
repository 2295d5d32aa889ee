"""Withdrawal service: holds, limits, KYC, approvals (single, dual, self), rejection, payouts, races."""

import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.conftest import PG_URL
from tradeapp.errors import Conflict, IllegalTransition, NotFound, PermissionDenied, ValidationFailed
from tradeapp.mail import outbox_messages
from tradeapp.models import AuditLog, Hold, JournalEntry, Transaction, Withdrawal, WithdrawalApproval
from tradeapp.payouts import SandboxPayout
from tradeapp.services import ledger
from tradeapp.services import withdrawals as service
from tradeapp.services.compliance import KycRequired
from tradeapp.services.ledger import InsufficientFunds, Leg

D = Decimal
BANK = {"iban": "GB82 WEST 1234 5698 7654 32", "account_holder": "Alice Liddell", "bank_name": "West Bank"}
BTC_ADDRESS = {"address": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "network": "bitcoin"}


@pytest.fixture(autouse=True)
def _sandbox():
    SandboxPayout.reset()
    yield
    SandboxPayout.reset()


@pytest.fixture()
def customer(create_user):
    return create_user(email="carol@example.com", username="carol", kyc_status="approved", is_verified=True)


@pytest.fixture()
def finance(create_staff):
    return create_staff(role="finance")


def fund(db, user, amount, currency="USD"):
    wallet = ledger.wallet_for(user, currency)
    ledger.post(
        "deposit", [Leg(wallet, D(amount)), Leg(ledger.platform_account("clearing:bank", currency), -D(amount))]
    )
    db.session.commit()
    return wallet


def request(user, amount="100", currency="USD", dtype="bank_account", details=None):
    return service.request_withdrawal(user, currency, amount, dtype, dict(details or BANK))


def wallet(user, currency="USD"):
    from tradeapp.extensions import db

    db.session.expire_all()
    return ledger.wallet_for(user, currency)


def counts(db):
    return tuple(
        db.session.scalar(select(func.count()).select_from(m)) for m in (Withdrawal, Transaction, Hold, JournalEntry)
    )


def assert_books_clean():
    report = ledger.check()
    assert report.ok, report.problems()


# -- the happy path ----------------------------------------------------------------------------


def test_request_holds_amount_plus_fee_and_writes_the_rows(db, customer):
    fund(db, customer, "500")

    w = request(customer, "100.50")

    assert w.status == "pending" and w.amount == D("100.50") and w.fee == D("1.00")
    assert w.destination_details == {
        "iban": "GB82WEST12345698765432",
        "account_holder": "Alice Liddell",
        "bank_name": "West Bank",
    }
    tx = w.transaction
    assert (tx.transaction_type, tx.status, tx.direction, tx.fee) == ("withdrawal", "pending", -1, D("1.00"))
    hold = db.session.get(Hold, w.hold_id)
    assert hold.amount == D("101.50") and hold.reason == "withdrawal" and hold.status == "active"
    wal = wallet(customer)
    assert wal.balance == D("500") and wal.available_balance == D("398.50")
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "withdrawal.requested")).actor_id == customer.id
    assert_books_clean()


def test_request_approve_payout_completes_with_correct_postings(app, db, customer, finance):
    fund(db, customer, "500")
    w = request(customer, "100")

    w = service.approve_withdrawal(finance, w)  # the payout job runs inline in tests

    db.session.expire_all()
    w = db.session.get(Withdrawal, w.id)
    assert w.status == "completed" and w.payout_provider == "sandbox"
    assert w.payout_ref == f"sandbox-payout-{w.id}" and w.payout_attempts == 1
    assert w.approved_by_id == finance.id and w.decided_at and w.completed_at
    tx = w.transaction
    assert tx.status == "completed" and tx.external_id == w.payout_ref and tx.completed_at
    entry = db.session.get(JournalEntry, tx.entry_id)
    assert entry.kind == "withdrawal"
    postings = {(p.wallet_id, p.platform_account_id): p.amount for p in entry.postings}
    bank = ledger.platform_account("clearing:bank", "USD")  # the rail it left through
    fees = ledger.platform_account("fees", "USD")
    wal = wallet(customer)
    assert postings == {(wal.id, None): D("-101.00"), (None, bank.id): D("100.00"), (None, fees.id): D("1.00")}
    assert wal.balance == D("399") and wal.locked_balance == 0
    assert db.session.get(Hold, w.hold_id).status == "posted"
    assert SandboxPayout.calls == {f"payout-{w.id}": 1}
    assert [m["subject"] for m in outbox_messages()] == ["Withdrawal sent"]
    actions = db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions == ["withdrawal.requested", "withdrawal.approved"]
    assert_books_clean()


def test_crypto_withdrawal_uses_network_rules(db, customer, finance):
    fund(db, customer, "1", "BTC")

    w = request(customer, "0.01", "BTC", "crypto_wallet", BTC_ADDRESS)
    service.approve_withdrawal(finance, w)

    assert wallet(customer, "BTC").balance == D("0.9898")
    assert_books_clean()


# -- rejection and cancellation ------------------------------------------------------------------


def test_reject_releases_the_hold_and_tells_the_user(db, customer, finance):
    fund(db, customer, "500")
    w = request(customer, "100")

    w = service.reject_withdrawal(finance, w, "  Destination   does not match ")

    assert w.status == "rejected" and w.rejection_reason == "Destination does not match"
    assert w.transaction.status == "cancelled"
    assert db.session.get(Hold, w.hold_id).status == "released"
    wal = wallet(customer)
    assert wal.balance == D("500") and wal.available_balance == D("500")
    [mail] = outbox_messages()
    assert mail["subject"] == "Withdrawal rejected" and "Destination does not match" in mail["text"]
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "withdrawal.rejected"))
    assert row.actor_id == finance.id and row.after["reason"] == "Destination does not match"
    with pytest.raises(IllegalTransition):
        service.approve_withdrawal(finance, w)
    assert_books_clean()


def test_reject_needs_a_reason(db, customer, finance):
    fund(db, customer, "500")
    w = request(customer, "100")
    with pytest.raises(ValidationFailed) as err:
        service.reject_withdrawal(finance, w, "   ")
    assert "reason" in err.value.fields
    assert db.session.get(Withdrawal, w.id).status == "pending"


def test_owner_cancels_while_pending_only(db, customer, create_user, finance):
    fund(db, customer, "500")
    w = request(customer, "100")
    other = create_user()

    with pytest.raises(NotFound):
        service.cancel_withdrawal(other, w)
    w = service.cancel_withdrawal(customer, w)

    assert w.status == "cancelled" and w.transaction.status == "cancelled"
    assert wallet(customer).available_balance == D("500")
    with pytest.raises(IllegalTransition):
        service.cancel_withdrawal(customer, w)
    with pytest.raises(IllegalTransition):
        service.reject_withdrawal(finance, w, "late")
    assert_books_clean()


def test_a_completed_withdrawal_cannot_be_cancelled(db, customer, finance):
    fund(db, customer, "500")
    w = service.approve_withdrawal(finance, request(customer, "100"))
    with pytest.raises(IllegalTransition):
        service.cancel_withdrawal(customer, w)
    assert wallet(customer).balance == D("399")


# -- approvals -----------------------------------------------------------------------------------


def test_large_withdrawal_needs_two_different_approvers(db, customer, create_staff):
    first, second = create_staff(role="finance"), create_staff(role="admin")
    fund(db, customer, "30000")
    w = request(customer, "20000")  # over the 10,000 USD threshold
    assert service.approvals_required(w) == 2

    w = service.approve_withdrawal(first, w)
    assert w.status == "pending" and len(w.approvals) == 1
    assert wallet(customer).locked_balance == D("20001")
    with pytest.raises(Conflict) as err:
        service.approve_withdrawal(first, w)
    assert err.value.code == "already_approved"

    w = service.approve_withdrawal(second, w)
    db.session.expire_all()
    assert db.session.get(Withdrawal, w.id).status == "completed"
    assert db.session.scalar(select(func.count()).select_from(WithdrawalApproval)) == 2
    assert wallet(customer).balance == D("9999")
    assert_books_clean()


def test_threshold_is_compared_in_usd_equivalent(app, db, customer, monkeypatch):
    fund(db, customer, "1", "BTC")
    w = request(customer, "0.2", "BTC", "crypto_wallet", BTC_ADDRESS)  # 12,000 USD at the static rate
    assert service.approvals_required(w) == 2
    monkeypatch.setitem(app.config, "WITHDRAWAL_DUAL_APPROVAL_OVER", "20000")
    assert service.approvals_required(w) == 1


def test_staff_cannot_approve_their_own_withdrawal(db, create_staff):
    staff = create_staff(role="finance", kyc_status="approved")
    fund(db, staff, "500")
    w = request(staff, "100")

    with pytest.raises(PermissionDenied) as err:
        service.approve_withdrawal(staff, w)

    assert err.value.code == "self_approval"
    assert db.session.get(Withdrawal, w.id).status == "pending"
    assert db.session.scalar(select(func.count()).select_from(WithdrawalApproval)) == 0


def test_staff_without_the_permission_cannot_approve(db, customer, create_staff):
    support = create_staff(role="support")
    fund(db, customer, "500")
    w = request(customer, "100")
    with pytest.raises(PermissionDenied):
        service.approve_withdrawal(support, w)
    with pytest.raises(PermissionDenied):
        service.reject_withdrawal(customer, w, "no")
    assert db.session.get(Withdrawal, w.id).status == "pending"


# -- rules ---------------------------------------------------------------------------------------


def test_kyc_is_required_unless_switched_off(app, db, create_user, monkeypatch):
    user = create_user(kyc_status="pending")
    fund(db, user, "5000")

    with pytest.raises(KycRequired) as err:
        request(user, "100")
    assert err.value.status == 403 and err.value.code == "kyc_required"
    assert counts(db)[:3] == (0, 0, 0)

    monkeypatch.setitem(app.config, "WITHDRAWALS_REQUIRE_KYC", False)
    request(user, "900")
    with pytest.raises(service.LimitExceeded):  # unverified: 1,000 USD per 24 hours
        request(user, "200")


@pytest.mark.parametrize(
    ("currency", "amount", "message"),
    [("USD", "9.99", "minimum"), ("USD", "50000.01", "maximum"), ("BTC", "0.0004", "minimum")],
)
def test_min_and_max_per_currency(db, customer, currency, amount, message):
    fund(db, customer, "100000", currency)
    before = counts(db)
    details = BANK if currency == "USD" else BTC_ADDRESS
    dtype = "bank_account" if currency == "USD" else "crypto_wallet"
    with pytest.raises(ValidationFailed) as err:
        request(customer, amount, currency, dtype, details)
    assert message in err.value.fields["amount"][0]
    assert counts(db) == before


def test_twenty_four_hour_limit_counts_live_withdrawals_only(db, customer):
    fund(db, customer, "300000")
    first = request(customer, "50000")
    request(customer, "49000")
    with pytest.raises(service.LimitExceeded) as err:
        request(customer, "1001")
    assert err.value.code == "limit_exceeded" and "amount" in err.value.fields

    service.cancel_withdrawal(customer, first)  # cancelled ones do not count
    request(customer, "50000")
    assert_books_clean()


@pytest.mark.parametrize(
    ("currency", "amount", "dtype", "details", "field"),
    [
        ("USD", 10.5, "bank_account", BANK, "amount"),
        ("USD", "-5", "bank_account", BANK, "amount"),
        ("USD", "0", "bank_account", BANK, "amount"),
        ("USD", "10.001", "bank_account", BANK, "amount"),
        ("USD", "ten", "bank_account", BANK, "amount"),
        ("USD", "1e20", "bank_account", BANK, "amount"),
        ("XYZ", "100", "bank_account", BANK, "currency"),
        ("USD", "100", "paypal", BANK, "destination_type"),
        ("USD", "100", "bank_account", {**BANK, "iban": "GB00WEST12345698765432"}, "destination_details.iban"),
        ("USD", "100", "bank_account", {**BANK, "account_holder": ""}, "destination_details.account_holder"),
        ("USD", "100", "crypto_wallet", BTC_ADDRESS, "destination_type"),
        ("BTC", "0.01", "crypto_wallet", {"address": "0x123", "network": "bitcoin"}, "destination_details.address"),
        ("BTC", "0.01", "crypto_wallet", {**BTC_ADDRESS, "network": "tron"}, "destination_details.network"),
        ("BTC", "0.01", "bank_account", BANK, "destination_type"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(db, customer, currency, amount, dtype, details, field):
    fund(db, customer, "1000")
    fund(db, customer, "1", "BTC")
    before = counts(db)
    with pytest.raises(ValidationFailed) as err:
        service.request_withdrawal(customer, currency, amount, dtype, dict(details))
    assert field in err.value.fields, err.value.fields
    assert counts(db) == before


def test_insufficient_funds_writes_nothing(db, customer):
    fund(db, customer, "100")
    before = counts(db)
    with pytest.raises(InsufficientFunds):
        request(customer, "100")  # 100 + 1.00 fee > 100
    assert counts(db) == before
    assert_books_clean()


def test_state_machine_refuses_illegal_moves():
    w = Withdrawal(status="completed")
    with pytest.raises(IllegalTransition):
        w.transition_to("pending")
    assert w.status == "completed"
    w.status = "pending"
    w.transition_to("approved")
    assert w.status == "approved"


# -- payouts -------------------------------------------------------------------------------------


def test_payout_failure_releases_the_hold_and_tells_the_user(db, customer, finance):
    fund(db, customer, "500")
    w = request(customer, "100", details={**BANK, "account_holder": "FAIL Liddell"})

    service.approve_withdrawal(finance, w)

    db.session.expire_all()
    w = db.session.get(Withdrawal, w.id)
    assert w.status == "failed" and "refused" in w.failure_reason
    assert w.transaction.status == "failed"
    assert db.session.get(Hold, w.hold_id).status == "released"
    wal = wallet(customer)
    assert wal.balance == D("500") and wal.available_balance == D("500")
    assert "Withdrawal failed" in [m["subject"] for m in outbox_messages()]
    assert_books_clean()


def test_running_the_payout_twice_pays_once(db, customer, finance):
    fund(db, customer, "500")
    w = service.approve_withdrawal(finance, request(customer, "100"))
    entries = counts(db)[3]

    assert service.process_payout(w.id) == "completed"
    assert service.process_payout(w.id) == "completed"

    assert SandboxPayout.calls == {f"payout-{w.id}": 1}
    assert counts(db)[3] == entries
    assert wallet(customer).balance == D("399")
    assert_books_clean()


def test_crash_after_the_provider_paid_is_completed_once_on_rerun(app, db, customer, finance, monkeypatch):
    fund(db, customer, "500")
    monkeypatch.setitem(app.config, "JOBS_INLINE", True)
    monkeypatch.setattr(service, "queue_payout", lambda withdrawal_id: None)  # approve without running the job
    w = service.approve_withdrawal(finance, request(customer, "100"))
    assert w.status == "approved"

    real_complete = service._complete

    def crash(*args, **kwargs):
        real_complete(*args, **kwargs)
        raise RuntimeError("worker killed before commit")

    monkeypatch.setattr(service, "_complete", crash)
    with pytest.raises(RuntimeError):
        service.process_payout(w.id)
    db.session.expire_all()
    assert db.session.get(Withdrawal, w.id).status == "processing"
    assert SandboxPayout.calls == {f"payout-{w.id}": 1}
    assert wallet(customer).locked_balance == D("101")  # the settlement was rolled back

    monkeypatch.setattr(service, "_complete", real_complete)
    assert service.process_payout(w.id) == "completed"

    db.session.expire_all()
    w = db.session.get(Withdrawal, w.id)
    assert w.payout_attempts == 2
    assert SandboxPayout.calls == {f"payout-{w.id}": 1}
    assert wallet(customer).balance == D("399")
    assert_books_clean()


def test_payout_job_does_nothing_for_rejected_withdrawals(db, customer, finance, monkeypatch):
    fund(db, customer, "500")
    monkeypatch.setattr(service, "queue_payout", lambda withdrawal_id: None)
    w = service.approve_withdrawal(finance, request(customer, "100"))
    service.reject_withdrawal(finance, w, "Changed our mind before sending")

    assert service.process_payout(w.id) == "rejected"
    assert SandboxPayout.calls == {}
    assert wallet(customer).available_balance == D("500")


def test_manual_bank_payouts_wait_for_finance(app, db, customer, create_staff, monkeypatch):
    monkeypatch.setitem(app.config, "PAYOUT_PROVIDER_BANK", "manual_bank")
    first, second = create_staff(role="finance"), create_staff(role="finance")
    fund(db, customer, "500")

    paid = service.approve_withdrawal(first, request(customer, "100"))
    failed = service.approve_withdrawal(first, request(customer, "50"))
    db.session.expire_all()
    paid, failed = db.session.get(Withdrawal, paid.id), db.session.get(Withdrawal, failed.id)
    assert (paid.status, paid.payout_provider, paid.payout_ref) == (
        "processing",
        "manual_bank",
        f"manual-payout-{paid.id}",
    )
    assert db.session.scalars(service.awaiting_manual_query()).all() == [paid, failed]
    assert service.process_payout(paid.id) == "processing"  # re-running only re-marks the export

    service.mark_payout_paid(second, paid)
    service.mark_payout_failed(second, failed, "Account closed")
    with pytest.raises(IllegalTransition):
        service.mark_payout_paid(second, paid)

    db.session.expire_all()
    assert db.session.get(Withdrawal, paid.id).status == "completed"
    assert db.session.get(Withdrawal, failed.id).status == "failed"
    assert wallet(customer).balance == D("399") and wallet(customer).locked_balance == 0
    actions = set(db.session.scalars(select(AuditLog.action)))
    assert {"withdrawal.paid", "withdrawal.payout_failed"} <= actions
    assert_books_clean()


def test_risk_facts(db, customer, create_user):
    facts = service.risk_facts(customer)
    assert facts.account_age_days == 0 and facts.deposits_count == 0
    assert "new account" in facts.flags and "no deposits" in facts.flags
    assert not facts.password_changed_recently


# -- concurrency ---------------------------------------------------------------------------------

postgres_only = pytest.mark.skipif(not PG_URL, reason="row-lock races need PostgreSQL")


@postgres_only
def test_twenty_threads_requesting_withdrawals_against_funds_for_five(app, db, customer):
    fund(db, customer, "505")  # five withdrawals of 100 + 1.00 fee
    user_id = customer.id
    barrier = threading.Barrier(20)
    results: list = [None] * 20

    def runner(i):
        with app.app_context():
            from tradeapp.extensions import db as tdb
            from tradeapp.models import User

            try:
                barrier.wait(30)  # before touching the pool: 20 threads share 15 connections
                user = tdb.session.get(User, user_id)
                service.request_withdrawal(user, "USD", "100", "bank_account", dict(BANK))
                results[i] = "ok"
            except InsufficientFunds:
                results[i] = "insufficient"
            except Exception as exc:  # noqa: BLE001 - reported by the assertion
                results[i] = repr(exc)
            finally:
                tdb.session.remove()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert results.count("ok") == 5, results
    assert results.count("insufficient") == 15, results
    assert counts(db)[:3] == (5, 5, 5)
    wal = wallet(customer)
    assert wal.balance == D("505") and wal.locked_balance == D("505")
    assert_books_clean()
