"""Deposits when things go wrong: the card processor unreachable, a commit that fails inside every
deposit operation (nothing may be left behind for a later commit), refunds of deposits that never
completed, duplicate crypto transaction hashes."""

import socket
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.concurrency import race
from tests.faults import InjectedFailure
from tradeapp.errors import ValidationFailed
from tradeapp.models import AuditLog, JournalEntry, Wallet
from tradeapp.models.funds import CryptoAddress, Deposit, Transaction
from tradeapp.services import deposits, ledger
from tradeapp.services.deposits import ServiceUnavailable

D = Decimal
TX = "cd" * 32


def count(db, model) -> int:
    value = db.session.scalar(select(func.count()).select_from(model))
    db.session.rollback()
    return value


def state(db) -> dict:
    """What a deposit operation can change, read fresh."""
    db.session.expire_all()
    rows = db.session.execute(select(Deposit.id, Deposit.status, Deposit.provider_ref).order_by(Deposit.id)).all()
    wallets = {(w.user_id, w.currency): (w.balance, w.locked_balance) for w in db.session.scalars(select(Wallet))}
    snapshot = {
        "deposits": [tuple(r) for r in rows],
        "transactions": [tuple(r) for r in db.session.execute(select(Transaction.id, Transaction.status)).all()],
        "wallets": wallets,
        "entries": db.session.scalar(select(func.count()).select_from(JournalEntry)),
        "audit": db.session.scalar(select(func.count()).select_from(AuditLog)),
        "addresses": db.session.scalar(select(func.count()).select_from(CryptoAddress)),
    }
    db.session.rollback()
    return snapshot


@pytest.fixture()
def finance(create_staff):
    return create_staff(role="finance")


# -- the card processor is unreachable ---------------------------------------------------------------


def _closed_port() -> int:
    """A port on 127.0.0.1 in this helper's range with nothing listening."""
    for port in range(6650, 6700):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no closed port in 6650-6699")


@pytest.fixture()
def unreachable_stripe(app):
    keys = ("PAYMENTS_PROVIDER", "STRIPE_SECRET_KEY", "STRIPE_API_BASE")
    saved = {k: app.config.get(k) for k in keys}
    app.config.update(
        PAYMENTS_PROVIDER="stripe",
        STRIPE_SECRET_KEY="sk_test_unreachable",
        STRIPE_API_BASE=f"http://127.0.0.1:{_closed_port()}",
    )
    yield
    app.config.update(saved)


def test_unreachable_card_processor_fails_the_deposit_and_credits_nothing(db, user, unreachable_stripe):
    with pytest.raises(ServiceUnavailable, match="could not be reached"):
        deposits.create_card_deposit(user, "USD", "25")
    deposit = db.session.scalars(select(Deposit)).one()
    assert deposit.status == "failed" and deposit.provider == "stripe" and deposit.provider_ref is None
    assert deposit.payment_details["failure"] == "The card processor could not be reached."
    assert db.session.get(Transaction, deposit.transaction_id).status == "failed"
    assert ledger.wallet_for(user, "USD").balance == 0
    assert count(db, JournalEntry) == 0
    # a late "succeeded" for an intent we never got back matches nothing
    assert deposits.complete_card_deposit("stripe", "pi_never_created", 2500, "USD") is None
    assert ledger.check().ok


def test_unconfigured_card_processor_is_unavailable_and_writes_nothing(app, db, user):
    saved = {k: app.config.get(k) for k in ("PAYMENTS_PROVIDER", "STRIPE_SECRET_KEY")}
    app.config.update(PAYMENTS_PROVIDER="stripe", STRIPE_SECRET_KEY="")
    try:
        with pytest.raises(ServiceUnavailable, match="not available"):
            deposits.create_card_deposit(user, "USD", "25")
    finally:
        app.config.update(saved)
    assert count(db, Deposit) == 0 and count(db, Transaction) == 0


# -- a commit that fails inside each operation ---------------------------------------------------------


def _card(user, cents=4000, complete=True):
    deposit = deposits.create_card_deposit(user, "USD", str(D(cents) / 100), provider_name="sandbox").deposit
    if complete:
        deposits.complete_card_deposit("sandbox", deposit.provider_ref, cents, "USD")
    return deposit


OPERATIONS = {
    "create_card": (lambda user, staff: None, lambda user, staff, _: _card(user, complete=False)),
    "complete_card": (
        lambda user, staff: _card(user, complete=False),
        lambda user, staff, d: deposits.complete_card_deposit("sandbox", d.provider_ref, 4000, "USD"),
    ),
    "mark_card_failed": (
        lambda user, staff: _card(user, complete=False),
        lambda user, staff, d: deposits.mark_card_failed("sandbox", d.provider_ref, "declined"),
    ),
    "refund_card": (
        lambda user, staff: _card(user),
        lambda user, staff, d: deposits.refund_card_deposit("sandbox", d.provider_ref, 4000, True),
    ),
    "refund_card_unrecovered": (
        lambda user, staff: (
            _card(user),
            ledger.place_hold(ledger.wallet_for(user, "USD"), D("40"), "withdrawal"),
            ledger.db.session.commit(),
        )[0],
        lambda user, staff, d: deposits.refund_card_deposit("sandbox", d.provider_ref, 4000, True),
    ),
    "create_bank": (lambda user, staff: None, lambda user, staff, _: deposits.create_bank_deposit(user, "USD", "100")),
    "confirm_bank": (
        lambda user, staff: deposits.create_bank_deposit(user, "USD", "100"),
        lambda user, staff, d: deposits.confirm_bank_deposit(staff, d, "99.50"),
    ),
    "reject_bank": (
        lambda user, staff: deposits.create_bank_deposit(user, "USD", "100"),
        lambda user, staff, d: deposits.reject_deposit(staff, d, "no such transfer"),
    ),
    "crypto_address": (lambda user, staff: None, lambda user, staff, _: deposits.crypto_address(user, "BTC", "")),
    "create_crypto": (
        lambda user, staff: None,
        lambda user, staff, _: deposits.create_crypto_deposit(user, "BTC", "", "0.5", TX),
    ),
    "confirm_crypto": (
        lambda user, staff: deposits.create_crypto_deposit(user, "BTC", "", "0.5"),
        lambda user, staff, d: deposits.confirm_crypto_deposit(staff, d, TX),
    ),
}


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_a_failed_commit_rolls_the_operation_back_whole(db, user, finance, failing_commit, name):
    setup, operation = OPERATIONS[name]
    deposit = setup(user, finance)
    before = state(db)
    failing_commit()
    with pytest.raises(InjectedFailure):
        operation(user, finance, deposit)
    # Whatever the operation had flushed is gone: a later commit in this session (the next job,
    # the next request on a reused session) must not carry a half-done operation with it.
    db.session.commit()
    assert state(db) == before
    assert ledger.check().ok
    # and the same operation succeeds when tried again
    operation(user, finance, deposit)
    assert state(db) != before
    assert ledger.check().ok


# -- refunds of deposits that never completed -------------------------------------------------------------


@pytest.mark.parametrize("status", ["pending", "failed"])
def test_a_refund_of_a_deposit_that_never_completed_changes_nothing(db, user, status):
    deposit = _card(user, complete=False)
    if status == "failed":
        deposits.mark_card_failed("sandbox", deposit.provider_ref, "declined")
    before = state(db)
    returned = deposits.refund_card_deposit("sandbox", deposit.provider_ref, 4000, True)
    assert returned.id == deposit.id and returned.status == status
    assert state(db) == before
    assert "refunded_minor" not in (db.session.get(Deposit, deposit.id).payment_details or {})
    assert deposits.refund_card_deposit("sandbox", "pi_unknown", 4000, True) is None


def test_a_refund_event_older_than_the_last_one_is_ignored(db, user):
    deposit = _card(user)
    deposits.refund_card_deposit("sandbox", deposit.provider_ref, 2500, False)
    before = state(db)
    deposits.refund_card_deposit("sandbox", deposit.provider_ref, 1000, False)  # late, smaller cumulative amount
    assert state(db) == before
    assert ledger.wallet_for(user, "USD").balance == D("15.00")


# -- duplicate crypto transaction hashes --------------------------------------------------------------------


def test_a_crypto_deposit_announcing_a_used_tx_hash_is_refused(db, user, create_user):
    first = deposits.create_crypto_deposit(user, "BTC", "", "0.5", TX)
    assert first.provider_ref == TX
    other = create_user()
    before = state(db)
    for spelling in (TX, TX.upper(), f"0x{TX}", f"  {TX}  "):
        with pytest.raises(ValidationFailed) as exc:
            deposits.create_crypto_deposit(other, "BTC", "", "0.5", spelling)
        assert exc.value.code == "duplicate_tx_hash" and "tx_hash" in exc.value.fields
    assert state(db) == before


def test_a_tx_hash_announced_on_one_deposit_cannot_confirm_another(db, user, finance):
    announced = deposits.create_crypto_deposit(user, "BTC", "", "0.5", TX)
    bare = deposits.create_crypto_deposit(user, "BTC", "", "0.5")
    with pytest.raises(ValidationFailed) as exc:
        deposits.confirm_crypto_deposit(finance, bare, TX)
    assert exc.value.code == "duplicate_tx_hash"
    assert db.session.get(Deposit, bare.id).status == "pending"
    deposits.confirm_crypto_deposit(finance, announced)  # its own announced hash is fine
    assert db.session.get(Deposit, announced.id).status == "completed"
    assert ledger.wallet_for(user, "BTC").balance == D("0.5")


def test_two_customers_racing_to_announce_one_tx_hash_create_one_deposit(app, db, user, create_user):
    """Runs on SQLite (BEGIN IMMEDIATE) and PostgreSQL (the unique index decides)."""
    ids = [user.id, create_user().id]
    for user_id in ids:  # addresses exist first, so the race is over the hash alone
        deposits.crypto_address(db.session.get(type(user), user_id), "BTC", "")

    def work(i):
        deposits.create_crypto_deposit(db.session.get(type(user), ids[i]), "BTC", "", "0.5", TX)

    results = race(app, 2, work, refused=(ValidationFailed,))
    assert sorted(results) == ["insufficient", "ok"], results
    assert count(db, Deposit) == 1


# -- staff guards on reject and crypto confirmation ----------------------------------------------------------


def test_reject_refuses_card_deposits_overlong_reasons_and_settled_deposits(db, user, finance):
    card = _card(user, complete=False)
    with pytest.raises(ValidationFailed, match="card processor"):
        deposits.reject_deposit(finance, card, "not ours")
    bank = deposits.create_bank_deposit(user, "USD", "100")
    with pytest.raises(ValidationFailed) as exc:
        deposits.reject_deposit(finance, bank, "x" * 501)
    assert "reason" in exc.value.fields
    before = state(db)
    deposits.reject_deposit(finance, bank, "x" * 500)
    rejected = db.session.get(Deposit, bank.id)
    assert rejected.status == "rejected" and rejected.rejection_reason == "x" * 500
    assert db.session.get(Transaction, rejected.transaction_id).status == "failed"
    assert state(db)["entries"] == before["entries"]  # nothing was ever credited
    from tradeapp.errors import IllegalTransition

    with pytest.raises(IllegalTransition):
        deposits.reject_deposit(finance, rejected, "again")
    with pytest.raises(IllegalTransition):
        deposits.confirm_bank_deposit(finance, rejected)


def test_crypto_confirmation_guards_and_a_different_amount_received(db, user, finance):
    bank = deposits.create_bank_deposit(user, "USD", "100")
    with pytest.raises(ValidationFailed, match="not a crypto deposit"):
        deposits.confirm_crypto_deposit(finance, bank, TX)
    bare = deposits.create_crypto_deposit(user, "BTC", "", "0.5")
    with pytest.raises(ValidationFailed) as exc:
        deposits.confirm_crypto_deposit(finance, bare)  # no hash announced, none given
    assert "tx_hash" in exc.value.fields
    with pytest.raises(ValidationFailed):
        deposits.confirm_crypto_deposit(finance, bare, "not-a-hash")
    assert db.session.get(Deposit, bare.id).status == "pending"
    confirmed = deposits.confirm_crypto_deposit(finance, bare, TX.upper(), amount="0.4999")
    assert confirmed.status == "completed" and confirmed.provider_ref == TX
    assert confirmed.credited_amount == D("0.4999") and confirmed.confirmed_by_id == finance.id
    assert ledger.wallet_for(user, "BTC").balance == D("0.4999")
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "deposit.confirm")).one()
    assert row.after == {"status": "completed", "credited": "0.49990000", "tx_hash": TX}  # BTC to 8 places
    assert ledger.check().ok
