"""How the ledger and transfers write: session copies kept in step, rows inserted without the unit of work."""

from decimal import Decimal

import pytest
from sqlalchemy import event, func, select

from tests.conftest import PG_URL
from tradeapp.extensions import db as _db
from tradeapp.models import JournalEntry, PlatformAccount, Posting, Transaction, Wallet
from tradeapp.services import ledger, transfers
from tradeapp.services.ledger import InsufficientFunds, Leg
from tradeapp.services.rows import insert_all

D = Decimal


def stored(model, ident, column):
    """The value in the database, not the session's copy."""
    return _db.session.execute(select(column).where(model.id == ident)).scalar_one()


class Statements:
    """Counts the SQL statements run while it is open."""

    def __enter__(self):
        self.count = 0
        event.listen(_db.engine, "before_cursor_execute", self._seen)
        return self

    def _seen(self, *args):
        self.count += 1

    def __exit__(self, *exc):
        event.remove(_db.engine, "before_cursor_execute", self._seen)


@pytest.fixture()
def bob(create_user):
    return create_user(email="bob@example.com", username="bob")


def test_post_gives_the_sessions_copies_the_new_balances(db, user):
    wallet = ledger.wallet_for(user, "USD")
    clearing = ledger.platform_account("clearing:bank", "USD")
    before = wallet.updated_at
    ledger.post("deposit", [Leg(wallet, D("12.34")), Leg(clearing, D("-12.34"))])
    # The objects the caller holds already say what the rows now say.
    assert wallet.balance == D("12.34") and wallet.locked_balance == D("0")
    assert wallet.updated_at >= before
    assert stored(Wallet, wallet.id, Wallet.balance) == D("12.34")
    # Platform balances only add up: they are applied at commit (see the next test for why).
    assert stored(PlatformAccount, clearing.id, PlatformAccount.balance) == D("0")
    db.session.commit()
    assert clearing.balance == D("-12.34")
    assert stored(PlatformAccount, clearing.id, PlatformAccount.balance) == D("-12.34")
    report = ledger.check()
    assert report.ok, report.problems()


def test_a_rolled_back_entry_leaves_platform_balances_alone(db, user):
    wallet = ledger.wallet_for(user, "USD")
    fees = ledger.platform_account("fees", "USD")
    db.session.commit()
    ledger.post("adjustment", [Leg(wallet, D("5")), Leg(fees, D("-5"))])
    db.session.rollback()
    ledger.post("adjustment", [Leg(wallet, D("2")), Leg(fees, D("-2"))])
    db.session.commit()
    assert stored(PlatformAccount, fees.id, PlatformAccount.balance) == D("-2")
    assert ledger.check().ok


@pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL")
def test_entries_on_a_busy_platform_account_do_not_wait_for_each_other(app, db, user, bob):
    """Two open transactions credit ``fees``: neither holds its row until it commits."""
    import threading

    a, b = ledger.wallet_for(user, "USD"), ledger.wallet_for(bob, "USD")
    fees = ledger.platform_account("fees", "USD")
    ledger.post("adjustment", [Leg(a, D("10")), Leg(b, D("10")), Leg(fees, D("-20"))])
    db.session.commit()
    ids = (a.id, b.id, fees.id)
    first_posted, second_done = threading.Event(), threading.Event()
    errors = []

    def first():
        with app.app_context():
            try:
                w = db.session.get(Wallet, ids[0])
                ledger.post("trade", [Leg(w, D("-1")), Leg(db.session.get(PlatformAccount, ids[2]), D("1"))])
                first_posted.set()
                assert second_done.wait(10), "the second entry waited for the first one's commit"
                db.session.commit()
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                first_posted.set()
                db.session.remove()

    thread = threading.Thread(target=first)
    thread.start()
    assert first_posted.wait(10)
    with app.app_context():
        w = db.session.get(Wallet, ids[1])
        ledger.post("trade", [Leg(w, D("-3")), Leg(db.session.get(PlatformAccount, ids[2]), D("3"))])
        db.session.commit()
        db.session.remove()
    second_done.set()
    thread.join(15)
    assert not errors, errors
    assert stored(PlatformAccount, fees.id, PlatformAccount.balance) == D("-16")
    db.session.expire_all()  # this session's copies predate the threads' commits
    assert ledger.check().ok


def test_post_between_platform_accounts_only(db):
    fees = ledger.platform_account("fees", "USD")
    bonuses = ledger.platform_account("bonuses", "USD")
    entry = ledger.post("bonus", [Leg(fees, D("-5")), Leg(bonuses, D("5"))], memo="campaign")
    db.session.commit()
    assert sorted(p.amount for p in entry.postings) == [D("-5"), D("5")]
    assert all(p.wallet_id is None for p in entry.postings)
    assert stored(PlatformAccount, bonuses.id, PlatformAccount.balance) == D("5")
    report = ledger.check()
    assert report.ok, report.problems()


def test_post_with_the_same_wallet_twice_applies_both_legs(db, user):
    wallet = ledger.wallet_for(user, "USD")
    clearing = ledger.platform_account("clearing:bank", "USD")
    ledger.post("deposit", [Leg(wallet, D("10")), Leg(wallet, D("-3")), Leg(clearing, D("-7"))])
    db.session.commit()
    assert stored(Wallet, wallet.id, Wallet.balance) == D("7")
    assert db.session.scalar(select(func.count()).select_from(Posting)) == 3
    report = ledger.check()
    assert report.ok, report.problems()


def test_post_refuses_before_writing_anything(db, user, bob):
    payer = ledger.wallet_for(user, "USD")
    payee = ledger.wallet_for(bob, "USD")
    db.session.commit()
    with pytest.raises(InsufficientFunds):
        ledger.post("transfer", [Leg(payee, D("1")), Leg(payer, D("-1"))])
    # Nothing was written in the transaction (no entry, no postings, no balance change).
    assert db.session.scalar(select(func.count()).select_from(JournalEntry)) == 0
    assert db.session.scalar(select(func.count()).select_from(Posting)) == 0
    assert stored(Wallet, payee.id, Wallet.balance) == D("0")
    db.session.rollback()


def test_insert_all_makes_persistent_objects_in_order(db, user, bob):
    entry = JournalEntry(kind="adjustment", memo="m", reference="r")
    insert_all([entry])
    lines = [
        Transaction(
            user_id=owner.id,
            user=owner,
            transaction_type="deposit",
            currency="USD",
            amount=D(n),
            status="completed",
            reference_id=f"REF-{n}",
            entry_id=entry.id,
        )
        for n, owner in ((1, user), (2, bob), (3, user))
    ]
    insert_all(lines)
    assert entry.id is not None and db.session.get(JournalEntry, entry.id) is entry
    for line in lines:
        assert line in db.session and db.session.get(Transaction, line.id) is line
        # Each object got the id of its own row.
        assert stored(Transaction, line.id, Transaction.reference_id) == line.reference_id
    db.session.commit()
    # Columns left unset took their defaults and load on access.
    assert lines[0].fee == D("0") and lines[0].external_id == "" and lines[0].direction == 1
    assert lines[1].user.id == bob.id


def test_a_transfer_answers_from_what_it_wrote(db, user, bob):
    wallet = ledger.wallet_for(user, "USD")
    clearing = ledger.platform_account("clearing:bank", "USD")
    ledger.post("deposit", [Leg(wallet, D("100")), Leg(clearing, D("-100"))])
    db.session.commit()
    unrelated = db.session.get(PlatformAccount, clearing.id)

    sent, received = transfers.transfer(user, "bob", "USD", "40", recipient_field="to_username")

    with Statements() as seen:
        answer = (sent.id, sent.amount, sent.counterparty.username, received.counterparty.username, sent.user_id)
    assert seen.count == 0  # the committed lines and users are read back without a query
    assert answer[1:] == (D("40"), "bob", "alice", user.id)
    # Everything else was expired by the commit as usual.
    assert "balance" not in unrelated.__dict__
    assert stored(Wallet, wallet.id, Wallet.balance) == D("60")
    report = ledger.check()
    assert report.ok, report.problems()
