"""Deposit services: card completion exactly once, refunds, bank and crypto confirmation, rules."""

import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.conftest import PG_URL
from tradeapp.errors import IllegalTransition, PermissionDenied, ValidationFailed
from tradeapp.models import AuditLog
from tradeapp.models.funds import CryptoAddress, Deposit, Transaction
from tradeapp.services import deposits, ledger

D = Decimal
TX = "ab" * 32


def balance(user, currency="USD") -> Decimal:
    return ledger.wallet_for(user, currency).balance


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def assert_ledger_clean():
    report = ledger.check()
    assert report.ok, report.problems()


@pytest.fixture()
def finance(create_staff):
    return create_staff(role="finance")


# -- card (sandbox provider: the same completion code as the Stripe webhook) ------------------------


def test_card_deposit_completes_once_and_replay_is_a_no_op(db, user):
    created = deposits.create_card_deposit(user, "usd", "25.50", provider_name="sandbox")
    deposit = created.deposit
    assert deposit.status == "pending" and deposit.provider == "sandbox"
    assert created.client_secret.startswith(deposit.provider_ref)
    assert balance(user) == 0

    deposits.complete_card_deposit("sandbox", deposit.provider_ref, 2550, "USD")
    again = deposits.complete_card_deposit("sandbox", deposit.provider_ref, 2550, "USD")

    assert again.status == "completed" and again.credited_amount == D("25.50")
    assert balance(user) == D("25.50")
    txn = db.session.get(Transaction, deposit.transaction_id)
    assert txn.status == "completed" and txn.external_id == deposit.provider_ref and txn.entry_id
    assert ledger.platform_account("clearing:card", "USD").balance == D("-25.50")
    assert ledger.check().entries == 1
    assert_ledger_clean()


def test_sandbox_test_cards_succeed_and_decline(db, user):
    declined = deposits.create_card_deposit(user, "EUR", "10", provider_name="sandbox").deposit
    deposit, ok, message = deposits.pay_sandbox_card(user, declined, "4000 0000 0000 0002")
    assert not ok and deposit.status == "failed" and "declined" in message
    assert balance(user, "EUR") == 0
    # The same intent may still succeed with another card.
    deposit, ok, _ = deposits.pay_sandbox_card(user, deposit, "4242424242424242")
    assert ok and deposit.status == "completed"
    assert balance(user, "EUR") == D("10.00")
    with pytest.raises(IllegalTransition):
        deposits.pay_sandbox_card(user, deposit, "4242424242424242")
    assert balance(user, "EUR") == D("10.00")
    assert_ledger_clean()


def test_sandbox_payment_of_someone_elses_deposit_is_refused(db, user, create_user):
    other = create_user()
    deposit = deposits.create_card_deposit(other, "USD", "10", provider_name="sandbox").deposit
    with pytest.raises(PermissionDenied):
        deposits.pay_sandbox_card(user, deposit, "4242424242424242")
    assert balance(other) == 0


def test_unknown_payment_intent_is_ignored(db, user):
    assert deposits.complete_card_deposit("stripe", "pi_unknown", 1000, "USD") is None
    assert ledger.check().entries == 0


def test_currency_mismatch_is_flagged_not_credited(db, user):
    deposit = deposits.create_card_deposit(user, "USD", "10", provider_name="sandbox").deposit
    deposits.complete_card_deposit("sandbox", deposit.provider_ref, 1000, "EUR")
    db.session.refresh(deposit)
    assert deposit.status == "pending" and "attention" in deposit.payment_details
    assert balance(user) == 0
    assert deposits.attention_query() == [deposit]


def test_full_refund_takes_the_money_back(db, user):
    deposit = deposits.create_card_deposit(user, "USD", "40", provider_name="sandbox").deposit
    deposits.complete_card_deposit("sandbox", deposit.provider_ref, 4000, "USD")
    deposits.refund_card_deposit("sandbox", deposit.provider_ref, 4000, True)
    deposits.refund_card_deposit("sandbox", deposit.provider_ref, 4000, True)  # replay
    db.session.refresh(deposit)
    assert deposit.status == "refunded"
    assert balance(user) == 0
    assert ledger.platform_account("clearing:card", "USD").balance == 0
    refunds = db.session.scalars(select(Transaction).where(Transaction.direction == -1)).all()
    assert len(refunds) == 1 and refunds[0].amount == D("40.00")
    assert_ledger_clean()


def test_partial_refunds_are_taken_back_by_difference(db, user):
    deposit = deposits.create_card_deposit(user, "USD", "40", provider_name="sandbox").deposit
    deposits.complete_card_deposit("sandbox", deposit.provider_ref, 4000, "USD")
    deposits.refund_card_deposit("sandbox", deposit.provider_ref, 1000, False)
    deposits.refund_card_deposit("sandbox", deposit.provider_ref, 2500, False)
    db.session.refresh(deposit)
    assert deposit.status == "completed"
    assert balance(user) == D("15.00")
    assert_ledger_clean()


def test_refund_of_spent_money_is_flagged_for_staff_and_never_goes_negative(db, user):
    deposit = deposits.create_card_deposit(user, "USD", "40", provider_name="sandbox").deposit
    deposits.complete_card_deposit("sandbox", deposit.provider_ref, 4000, "USD")
    wallet = ledger.wallet_for(user, "USD")
    ledger.place_hold(wallet, D("30"), "withdrawal", "w:1")  # most of it is already on its way out
    db.session.commit()

    deposits.refund_card_deposit("sandbox", deposit.provider_ref, 4000, True)
    db.session.refresh(deposit)
    assert deposit.status == "refunded"
    assert "attention" in deposit.payment_details and deposit.payment_details["unrecovered_minor"] == 4000
    assert balance(user) == D("40.00")
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "deposit.refund_unrecovered"))
    assert deposits.attention_query() == [deposit]
    assert_ledger_clean()


@pytest.mark.parametrize(
    ("currency", "amount", "field"),
    [
        ("USD", "-5", "amount"),
        ("USD", "0", "amount"),
        ("USD", "1.001", "amount"),
        ("USD", "abc", "amount"),
        ("USD", "1e12", "amount"),
        ("USD", 1.5, "amount"),
        ("XYZ", "10", "currency"),
        ("BTC", "10", "currency"),  # cards are fiat only
    ],
)
def test_bad_card_input_writes_nothing(db, user, currency, amount, field):
    with pytest.raises(ValidationFailed) as info:
        deposits.create_card_deposit(user, currency, amount, provider_name="sandbox")
    assert field in info.value.fields
    assert count(db, Deposit) == 0 and count(db, Transaction) == 0


# -- bank transfer --------------------------------------------------------------------------------


def test_bank_deposit_reference_and_confirmation_with_a_different_amount(db, user, finance):
    deposit = deposits.create_bank_deposit(user, "GBP", "500")
    other = deposits.create_bank_deposit(user, "GBP", "20")
    assert deposit.provider_ref.startswith("TA-") and len(deposit.provider_ref) == 11
    assert deposit.provider_ref != other.provider_ref
    assert deposit.payment_details["bank"]["iban"]
    assert deposits.pending_count() == 2

    deposits.confirm_bank_deposit(finance, deposit, "499.50")
    db.session.refresh(deposit)
    assert deposit.status == "completed" and deposit.credited_amount == D("499.50")
    assert deposit.amount == D("500.00") and deposit.confirmed_by_id == finance.id
    assert deposit.transaction.amount == D("499.50")
    assert balance(user, "GBP") == D("499.50")
    assert deposits.pending_count() == 1
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "deposit.confirm"))
    assert row.actor_id == finance.id and row.after["credited"] == "499.50"

    with pytest.raises(IllegalTransition):
        deposits.confirm_bank_deposit(finance, deposit)
    assert balance(user, "GBP") == D("499.50")
    assert_ledger_clean()


def test_bank_confirmation_defaults_to_the_announced_amount(db, user, finance):
    deposit = deposits.create_bank_deposit(user, "EUR", "75.25")
    deposits.confirm_bank_deposit(finance, deposit)
    assert balance(user, "EUR") == D("75.25")
    assert ledger.platform_account("clearing:bank", "EUR").balance == D("-75.25")
    assert_ledger_clean()


def test_staff_cannot_confirm_or_reject_their_own_deposit(db, finance):
    deposit = deposits.create_bank_deposit(finance, "USD", "100")
    with pytest.raises(PermissionDenied):
        deposits.confirm_bank_deposit(finance, deposit)
    with pytest.raises(PermissionDenied):
        deposits.reject_deposit(finance, deposit, "mine")
    db.session.refresh(deposit)
    assert deposit.status == "pending" and balance(finance) == 0


def test_customers_and_other_staff_roles_cannot_confirm(db, user, create_user, create_staff):
    deposit = deposits.create_bank_deposit(user, "USD", "100")
    for actor in (create_user(), create_staff(role="support")):
        with pytest.raises(PermissionDenied):
            deposits.confirm_bank_deposit(actor, deposit)
    assert balance(user) == 0


def test_reject_needs_a_reason_and_is_final(db, user, finance):
    deposit = deposits.create_bank_deposit(user, "USD", "100")
    with pytest.raises(ValidationFailed) as info:
        deposits.reject_deposit(finance, deposit, "  ")
    assert "reason" in info.value.fields
    deposits.reject_deposit(finance, deposit, "No transfer received after 30 days")
    db.session.refresh(deposit)
    assert deposit.status == "rejected" and deposit.transaction.status == "failed"
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "deposit.reject")).actor_id == finance.id
    with pytest.raises(IllegalTransition):
        deposits.confirm_bank_deposit(finance, deposit)
    assert balance(user) == 0 and ledger.check().entries == 0


def test_bad_confirmation_amount_changes_nothing(db, user, finance):
    deposit = deposits.create_bank_deposit(user, "USD", "100")
    with pytest.raises(ValidationFailed) as info:
        deposits.confirm_bank_deposit(finance, deposit, "-3")
    assert "amount" in info.value.fields
    db.session.refresh(deposit)
    assert deposit.status == "pending" and ledger.check().entries == 0


# -- crypto ---------------------------------------------------------------------------------------


def test_crypto_address_is_deterministic_unique_and_labelled_demo(db, user, create_user):
    a = deposits.crypto_address(user, "BTC", "bitcoin")
    again = deposits.crypto_address(user, "btc", "")
    other_net = deposits.crypto_address(user, "USDT", "tron")
    someone = deposits.crypto_address(create_user(), "BTC", "bitcoin")
    assert a.id == again.id and a.address == again.address
    assert a.address.startswith("demo-bitcoin-")
    assert len({a.address, other_net.address, someone.address}) == 3
    assert count(db, CryptoAddress) == 3
    with pytest.raises(ValidationFailed) as info:
        deposits.crypto_address(user, "USDT", "solana")
    assert "network" in info.value.fields


def test_crypto_confirmation_credits_once_and_a_tx_hash_only_once(db, user, create_user, finance):
    first = deposits.create_crypto_deposit(user, "BTC", "bitcoin", "0.05")
    second = deposits.create_crypto_deposit(create_user(), "BTC", "bitcoin", "0.05")
    deposits.confirm_crypto_deposit(finance, first, "0x" + TX.upper(), None)
    db.session.refresh(first)
    assert first.status == "completed" and first.provider_ref == TX
    assert first.transaction.external_id == TX
    assert balance(user, "BTC") == D("0.05")

    with pytest.raises(ValidationFailed) as info:
        deposits.confirm_crypto_deposit(finance, second, TX, None)
    assert "tx_hash" in info.value.fields
    db.session.refresh(second)
    assert second.status == "pending" and second.provider_ref is None

    with pytest.raises(ValidationFailed):
        deposits.create_crypto_deposit(user, "BTC", "bitcoin", "0.05", tx_hash=TX)
    assert count(db, Deposit) == 2
    assert ledger.platform_account("clearing:crypto", "BTC").balance == D("-0.05")
    assert_ledger_clean()


def test_crypto_confirmation_needs_a_valid_tx_hash(db, user, finance):
    deposit = deposits.create_crypto_deposit(user, "ETH", "ethereum", "1.5")
    for bad in (None, "not-a-hash", "0x123"):
        with pytest.raises(ValidationFailed) as info:
            deposits.confirm_crypto_deposit(finance, deposit, bad, None)
        assert "tx_hash" in info.value.fields
    announced = deposits.create_crypto_deposit(user, "ETH", "ethereum", "2", tx_hash="cd" * 32)
    deposits.confirm_crypto_deposit(finance, announced, None, "1.99999999")
    assert balance(user, "ETH") == D("1.99999999")
    assert_ledger_clean()


def test_bad_crypto_input_writes_nothing(db, user):
    for args in (("DOGE", "x", "1"), ("BTC", "ethereum", "1"), ("BTC", "bitcoin", "0.000000001")):
        with pytest.raises(ValidationFailed):
            deposits.create_crypto_deposit(user, *args)
    with pytest.raises(ValidationFailed):
        deposits.create_crypto_deposit(user, "BTC", "bitcoin", "1", tx_hash="zz")
    assert count(db, Deposit) == 0 and count(db, Transaction) == 0


# -- races (PostgreSQL) ---------------------------------------------------------------------------


@pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL")
def test_concurrent_webhook_replays_credit_once(app, db, user):
    deposit = deposits.create_card_deposit(user, "USD", "10", provider_name="sandbox").deposit
    ref = deposit.provider_ref
    barrier = threading.Barrier(8)
    errors = []

    def worker():
        with app.app_context():
            try:
                barrier.wait()
                deposits.complete_card_deposit("sandbox", ref, 1000, "USD")
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                from tradeapp.extensions import db as _db

                _db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    db.session.expire_all()
    assert balance(user) == D("10.00") and ledger.check().entries == 1
    assert_ledger_clean()


@pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL")
def test_two_staff_racing_to_confirm_credit_once(app, db, user, create_staff):
    deposit_id = deposits.create_bank_deposit(user, "USD", "100").id
    staff_ids = [create_staff(role="finance").id for _ in range(6)]
    barrier = threading.Barrier(len(staff_ids))
    outcomes = []

    def worker(staff_id):
        from tradeapp.extensions import db as _db
        from tradeapp.models import User

        with app.app_context():
            try:
                staff = _db.session.get(User, staff_id)
                dep = _db.session.get(Deposit, deposit_id)
                barrier.wait()
                deposits.confirm_bank_deposit(staff, dep)
                outcomes.append("ok")
            except IllegalTransition:
                outcomes.append("refused")
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=worker, args=(i,)) for i in staff_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok"] + ["refused"] * (len(staff_ids) - 1)
    db.session.expire_all()
    assert balance(user) == D("100.00")
    assert_ledger_clean()
