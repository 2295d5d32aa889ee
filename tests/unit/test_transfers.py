"""Transfers between customers: rules, ledger entries, history lines, events, races."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.concurrency import race
from tests.conftest import PG_URL
from tradeapp.errors import ValidationFailed
from tradeapp.extensions import db as _db
from tradeapp.models import JournalEntry, Posting, Transaction, Wallet
from tradeapp.services import ledger, transfers
from tradeapp.services.ledger import InsufficientFunds, Leg

D = Decimal


def fund(db, user, amount, currency="USD"):
    """Credit ``user`` through a proper ledger entry (bank clearing)."""
    wallet = ledger.wallet_for(user, currency)
    clearing = ledger.platform_account("clearing:bank", currency)
    ledger.post("deposit", [Leg(wallet, D(amount)), Leg(clearing, -D(amount))], reference="test")
    db.session.commit()
    return wallet


def balance(user, currency="USD") -> Decimal:
    _db.session.expire_all()
    wallet = _db.session.scalar(select(Wallet).where(Wallet.user_id == user.id, Wallet.currency == currency))
    return wallet.balance if wallet else D(0)


def counts():
    return (
        _db.session.scalar(select(func.count()).select_from(Transaction)),
        _db.session.scalar(select(func.count()).select_from(JournalEntry)),
        _db.session.scalar(select(func.count()).select_from(Posting)),
        _db.session.scalar(select(func.count()).select_from(Wallet)),
    )


@pytest.fixture()
def bob(create_user):
    return create_user(email="bob@example.com", username="bob")


def test_transfer_moves_money_and_writes_two_history_lines(db, user, bob, monkeypatch):
    events = []
    monkeypatch.setattr("tradeapp.realtime.emit_to_user", lambda uid, event, data: events.append((uid, event, data)))
    fund(db, user, "100")

    sent, received = transfers.transfer(user, "bob@example.com", "usd", "40.25", "  for lunch ")

    assert balance(user) == D("59.75") and balance(bob) == D("40.25")
    assert (sent.user_id, sent.direction, sent.counterparty_id) == (user.id, -1, bob.id)
    assert (received.user_id, received.direction, received.counterparty_id) == (bob.id, 1, user.id)
    for txn in (sent, received):
        assert txn.transaction_type == "transfer" and txn.status == "completed"
        assert txn.amount == D("40.25") and txn.currency == "USD" and txn.notes == "for lunch"
        assert txn.completed_at is not None and txn.reference_id.startswith("TRF-")
        assert txn.entry_id == sent.entry_id
    assert sent.reference_id != received.reference_id
    entry = db.session.get(JournalEntry, sent.entry_id)
    assert entry.kind == "transfer" and entry.created_by_id == user.id
    assert sorted(p.amount for p in entry.postings) == [D("-40.25"), D("40.25")]
    # Both sides hear about it, after the commit.
    assert {(uid, event) for uid, event, _ in events} == {
        (user.id, "wallet_updated"),
        (bob.id, "wallet_updated"),
        (user.id, "transaction"),
        (bob.id, "transaction"),
    }
    updates = {uid: data for uid, event, data in events if event == "wallet_updated"}
    assert updates[user.id]["available_balance"] == "59.75" and updates[bob.id]["balance"] == "40.25"
    assert ledger.check().ok


def test_recipient_by_username_case_insensitive(db, user, bob):
    fund(db, user, "1", "BTC")
    sent, received = transfers.transfer(user, "BOB", "BTC", "0.12345678", recipient_field="to_username")
    assert received.user_id == bob.id and balance(bob, "BTC") == D("0.12345678")
    assert ledger.check().ok


def test_username_containing_at_sign_is_found(db, user, create_user):
    odd = create_user(email="odd@example.com", username="odd@name")
    fund(db, user, "10")
    _, received = transfers.transfer(user, "odd@name", "USD", "1")
    assert received.user_id == odd.id


@pytest.mark.parametrize(
    ("identifier", "field", "message"),
    [
        ("nobody@example.com", "to_email", "No active customer"),
        ("nobody", "to_username", "No active customer"),
        ("alice@example.com", "to_email", "yourself"),
        ("alice", "to_username", "yourself"),
        ("", "to_email", "Enter the recipient"),
    ],
)
def test_bad_recipient_is_a_field_error_and_writes_nothing(db, user, bob, identifier, field, message):
    fund(db, user, "100")
    before = counts()
    with pytest.raises(ValidationFailed) as info:
        transfers.transfer(user, identifier, "USD", "10", recipient_field=field)
    assert message in info.value.fields[field][0]
    assert counts() == before
    assert balance(user) == D("100")


def test_inactive_recipient_is_refused(db, user, create_user):
    create_user(email="gone@example.com", username="gone", is_active_flag=False)
    fund(db, user, "100")
    with pytest.raises(ValidationFailed) as info:
        transfers.transfer(user, "gone@example.com", "USD", "10")
    assert "to_email" in info.value.fields


@pytest.mark.parametrize(
    ("currency", "amount", "field"),
    [
        ("USD", "-5", "amount"),
        ("USD", "0", "amount"),
        ("USD", "1.001", "amount"),
        ("BTC", "0.000000001", "amount"),
        ("USD", "abc", "amount"),
        ("USD", "NaN", "amount"),
        ("USD", "1e30", "amount"),
        ("USD", 10.5, "amount"),
        ("XYZ", "10", "currency"),
        ("", "10", "currency"),
    ],
)
def test_bad_amount_or_currency_writes_nothing(db, user, bob, currency, amount, field):
    fund(db, user, "100")
    before = counts()
    with pytest.raises(ValidationFailed) as info:
        transfers.transfer(user, "bob", currency, amount)
    assert field in info.value.fields
    assert counts() == before


def test_long_note_is_refused(db, user, bob):
    fund(db, user, "100")
    with pytest.raises(ValidationFailed) as info:
        transfers.transfer(user, "bob", "USD", "1", "x" * 501)
    assert "note" in info.value.fields


def test_only_the_available_balance_can_be_sent(db, user, bob):
    wallet = fund(db, user, "100")
    ledger.place_hold(wallet, D("70"), "withdrawal", "test")
    db.session.commit()
    before = counts()
    with pytest.raises(InsufficientFunds):
        transfers.transfer(user, "bob", "USD", "30.01")
    assert counts() == before
    transfers.transfer(user, "bob", "USD", "30")
    assert balance(user) == D("70") and balance(bob) == D("30")
    assert ledger.check().ok


def test_sender_without_a_wallet_gets_insufficient_funds_and_no_wallets(db, user, bob):
    before = counts()
    with pytest.raises(InsufficientFunds):
        transfers.transfer(user, "bob", "EUR", "1")
    assert counts() == before


# -- races (PostgreSQL) ----------------------------------------------------------------------------


@pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL")
def test_twenty_threads_sending_from_one_wallet_only_as_many_as_funds_allow(app, db, user, create_user):
    from tradeapp.models import User

    recipients = [create_user().username for _ in range(20)]
    fund(db, user, "70")  # covers 7 transfers of 10
    sender_id = user.id

    def work(i):
        sender = _db.session.get(User, sender_id)
        transfers.transfer(sender, recipients[i], "USD", "10")
        return "ok"

    results = race(app, 20, work, refused=(InsufficientFunds,))
    assert results.count("ok") == 7, results
    assert results.count("insufficient") == 13, results
    assert balance(user) == D("0")
    assert db.session.scalar(select(func.count()).select_from(Transaction)) == 14
    report = ledger.check()
    assert report.ok, report.problems()


@pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL")
def test_opposite_transfers_in_parallel_never_deadlock(app, db, user, bob):
    from tradeapp.models import User

    fund(db, user, "1000")
    fund(db, bob, "1000")
    ids = (user.id, bob.id)
    names = ("alice", "bob")

    def work(i):
        sender = _db.session.get(User, ids[i % 2])
        transfers.transfer(sender, names[(i + 1) % 2], "USD", "7")
        return "ok"

    results = race(app, 16, work, refused=(InsufficientFunds,))
    assert results == ["ok"] * 16, results
    assert balance(user) == D("1000") and balance(bob) == D("1000")
    report = ledger.check()
    assert report.ok, report.problems()


def test_demo_seed_funds_the_demo_customer_once_through_the_ledger(db, market):
    from tradeapp.models import Order, User
    from tradeapp.services.seed import DEMO_CUSTOMER, seed_demo

    market.set("BTC/USD", "50000", "50010", size="1", step="10")
    market.set("ETH/USD", "3000", "3001", size="10", step="1")
    created = seed_demo()
    assert "demo funds 25000 USD" in created
    assert "demo order buy 0.05 BTC-USD (filled)" in created and "demo order buy 0.02 BTC-USD (open)" in created
    demo = db.session.scalar(select(User).where(User.email == DEMO_CUSTOMER["email"]))
    # 0.5 BTC and 5 ETH funded, 0.05 BTC bought; the copy-trading demo may add the lead trader's copies
    assert balance(demo, "BTC") >= D("0.55") and balance(demo, "ETH") >= D("5")
    funding = (
        select(func.count())
        .select_from(Transaction)
        .where(
            Transaction.user_id == demo.id,
            Transaction.transaction_type.not_in(("trade", "signal_purchase", "loan", "referral_bonus")),
        )
    )
    assert db.session.scalar(funding) == 3
    assert any(line.startswith("demo loan 2000 USD") for line in created)  # the loans domain's step
    usd = balance(demo, "USD")
    assert usd < D("25000")  # it paid for the two market buys
    orders_before = db.session.scalar(select(func.count()).select_from(Order))

    again = seed_demo()
    assert not [line for line in again if line.startswith(("demo funds", "demo order"))]
    assert balance(demo, "USD") == usd
    # the demo customer's three orders, plus the other domains' demo traders' and copies: none placed twice
    assert orders_before >= 3 and db.session.scalar(select(func.count()).select_from(Order)) == orders_before
    report = ledger.check()
    assert report.ok, report.problems()
