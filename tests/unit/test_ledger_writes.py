"""How the ledger and transfers write: session copies kept in step, rows inserted without the unit of work."""

from decimal import Decimal

import pytest
from sqlalchemy import event, func, select

from tests.conftest import PG_URL
from tradeapp.errors import IllegalTransition
from tradeapp.extensions import db as _db
from tradeapp.models import Hold, JournalEntry, PlatformAccount, Posting, Transaction, Wallet
from tradeapp.models.types import utcnow
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


def test_post_refuses_to_spend_more_of_a_hold_than_the_wallet_has_locked(db, user):
    # A hold debit larger than the wallet's locked balance would leave it negative, even with a
    # balance to cover the amount: refused, whatever else the wallet holds.
    wallet = ledger.wallet_for(user, "USD")
    clearing = ledger.platform_account("clearing:bank", "USD")
    ledger.post("deposit", [Leg(wallet, D("100")), Leg(clearing, D("-100"))])
    ledger.place_hold(wallet, D("5"), "order")
    db.session.commit()
    with pytest.raises(InsufficientFunds):
        ledger.post("trade", [Leg(wallet, D("-10")), Leg(clearing, D("10"))], _hold_debits={wallet.id: D("10")})
    db.session.rollback()
    assert stored(Wallet, wallet.id, Wallet.locked_balance) == D("5")
    assert stored(Wallet, wallet.id, Wallet.balance) == D("100")


def test_post_records_its_history_lines_with_the_entry(db, user, bob):
    wallet, other = ledger.wallet_for(user, "USD"), ledger.wallet_for(bob, "USD")
    clearing = ledger.platform_account("clearing:bank", "USD")
    ledger.post("deposit", [Leg(wallet, D("100")), Leg(clearing, D("-100"))])
    db.session.commit()
    at = utcnow()
    lines = [
        Transaction(
            user_id=owner.id,
            transaction_type="transfer",
            currency="USD",
            amount=D("12.50"),
            fee=D("0"),
            status="completed",
            reference_id=f"T-{n}",
            external_id="",
            notes=f"line {n}",
            direction=direction,
            created_at=at,
            completed_at=at,
        )
        for n, (owner, direction) in enumerate(((user, -1), (bob, 1), (bob, 1)))
    ]
    assert (wallet.currency, other.currency) == ("USD", "USD")  # loaded again after the commit
    with Statements() as seen:
        entry = ledger.post(
            "transfer", [Leg(wallet, D("-25")), Leg(other, D("12.50")), Leg(other, D("12.50"))], lines=lines
        )
    if PG_URL:
        assert seen.count == 2  # the wallets' lock, then the entry, postings, balances and lines together
    # Each line is persistent, knows its entry and kept its place: ids rise in the order given.
    assert [line.entry_id for line in lines] == [entry.id] * 3
    assert [line.id for line in lines] == sorted(line.id for line in lines)
    db.session.commit()
    rows = _db.session.execute(
        select(Transaction.id, Transaction.reference_id, Transaction.notes, Transaction.entry_id, Transaction.amount)
        .where(Transaction.entry_id == entry.id)
        .order_by(Transaction.id)
    ).all()
    assert [tuple(r) for r in rows] == [
        (line.id, f"T-{n}", f"line {n}", entry.id, D("12.50")) for n, line in enumerate(lines)
    ]
    assert [p.amount for p in entry.postings] == [D("-25"), D("12.50"), D("12.50")]
    assert stored(Wallet, other.id, Wallet.balance) == D("25")
    report = ledger.check()
    assert report.ok, report.problems()


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


# -- LedgerBatch: a fan-out's holds and entries, checked one by one, written by flush ------------------

MESSAGE = "Insufficient available USD balance."


def funded(db, owner, amount):
    wallet = ledger.wallet_for(owner, "USD")
    ledger.post("deposit", [Leg(wallet, D(amount)), Leg(ledger.platform_account("clearing:bank", "USD"), -D(amount))])
    db.session.commit()
    return wallet


def test_a_batch_books_holds_and_entries_and_flush_writes_them(db, user):
    wallet = funded(db, user, "100")
    fees = ledger.platform_account("fees", "USD")
    db.session.commit()
    books = ledger.LedgerBatch(ledger.lock_wallets([wallet.id]).values())
    assert books.available(wallet) == D("100")
    hold = books.place_hold(wallet, D("60"), "order", "r" * 150)
    assert books.available(wallet) == D("40")
    kept = books.place_hold(wallet, D("40"), "withdrawal")  # exactly what is left available
    assert books.available(wallet) == 0
    entry = books.settle_hold(hold, D("25"), [Leg(fees, D("25"))], kind="trade", memo="m" * 300)
    books.release_hold(hold, D("0.50"))
    books.grow_hold(hold, D("0.50"))  # exactly what the release made available again
    books.release_hold(kept)  # all that remains
    plain = books.post("fee", [Leg(wallet, D("-10")), Leg(fees, D("10"))], memo="n" * 300, reference="x" * 150)
    bare = books.post("fee", [Leg(wallet, D("-1")), Leg(fees, D("1"))])
    assert books.available(wallet) == D("29")
    # Nothing is written before flush.
    assert stored(Wallet, wallet.id, Wallet.balance) == D("100")
    assert (hold.id, entry.id) == (None, None)
    # A one-row entry on the same platform account, in the same transaction: both credits add up at commit.
    ledger.post("bonus", [Leg(fees, D("-5")), Leg(ledger.platform_account("bonuses", "USD"), D("5"))])
    books.flush()
    assert (wallet.balance, wallet.locked_balance) == (D("64"), D("35"))  # the session's copy
    db.session.commit()
    assert stored(Wallet, wallet.id, Wallet.balance) == D("64")
    assert stored(Wallet, wallet.id, Wallet.locked_balance) == D("35")
    assert stored(PlatformAccount, fees.id, PlatformAccount.balance) == D("31")
    open_hold, closed = db.session.get(Hold, hold.id), db.session.get(Hold, kept.id)
    assert (open_hold.wallet_id, open_hold.reason, open_hold.reference) == (wallet.id, "order", "r" * 100)
    assert (open_hold.amount, open_hold.remaining, open_hold.posted_total) == (D("60.50"), D("35"), D("25"))
    assert (open_hold.status, open_hold.closed_at) == ("active", None)
    assert (closed.reason, closed.reference, closed.amount, closed.remaining) == ("withdrawal", "", D("40"), 0)
    assert closed.status == "released" and closed.closed_at is not None
    trade, fee = db.session.get(JournalEntry, entry.id), db.session.get(JournalEntry, bare.id)
    assert (db.session.get(JournalEntry, plain.id).memo, db.session.get(JournalEntry, plain.id).reference) == (
        "n" * 255,
        "x" * 100,
    )
    assert (trade.kind, trade.memo, trade.reference) == ("trade", "m" * 255, "r" * 100)
    assert [(p.wallet_id, p.platform_account_id, p.amount) for p in trade.postings] == [
        (wallet.id, None, D("-25")),
        (None, fees.id, D("25")),
    ]
    assert (fee.kind, fee.memo, fee.reference) == ("fee", "", "")
    # Everything the batch wrote carries the batch's one time.
    assert open_hold.created_at == closed.created_at == closed.closed_at == trade.created_at == fee.created_at
    assert [(p.currency, p.amount) for p in fee.postings] == [("USD", D("-1")), ("USD", D("1"))]
    report = ledger.check()
    assert report.ok, report.problems()


def test_a_batch_settles_and_releases_existing_holds_it_locked(db, user):
    wallet = funded(db, user, "100")
    fees = ledger.platform_account("fees", "USD")
    spent, given_back = ledger.place_hold(wallet, D("30"), "order", "order:1"), ledger.place_hold(wallet, D("20"), "x")
    db.session.commit()
    books = ledger.LedgerBatch(ledger.lock_wallets([wallet.id]).values())
    holds = ledger.lock_holds([spent.id, given_back.id])
    books.settle_hold(holds[spent.id], D("0.50"), [Leg(fees, D("0.50"))], kind="trade", reference="own")
    books.settle_hold(holds[spent.id], D("29.50"), [Leg(fees, D("29.50"))], kind="trade")
    books.release_hold(holds[given_back.id], D("20"))
    books.flush()
    # The session's copies carry what was written.
    assert (holds[spent.id].status, holds[spent.id].remaining, holds[spent.id].posted_total) == ("posted", 0, D("30"))
    assert (holds[given_back.id].status, holds[given_back.id].remaining) == ("released", 0)
    db.session.commit()
    db.session.expire_all()
    for hold_id, status, posted in ((spent.id, "posted", D("30")), (given_back.id, "released", 0)):
        hold = db.session.get(Hold, hold_id)
        assert (hold.status, hold.remaining, hold.posted_total, hold.amount) == (status, 0, posted, hold.amount)
        assert hold.closed_at is not None
    trades = db.session.execute(
        select(JournalEntry.memo, JournalEntry.reference).where(JournalEntry.kind == "trade").order_by(JournalEntry.id)
    ).all()
    assert [tuple(t) for t in trades] == [("", "own"), ("", "order:1")]  # the hold's reference by default
    assert (db.session.get(Wallet, wallet.id).balance, db.session.get(Wallet, wallet.id).locked_balance) == (D("70"), 0)
    # A second flush writes nothing more; what is booked after the first is written by the next.
    books.flush()
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(JournalEntry)) == 3
    books = ledger.LedgerBatch(ledger.lock_wallets([wallet.id]).values())
    books.post("fee", [Leg(wallet, D("-1")), Leg(fees, D("1"))])
    books.flush()
    books.post("fee", [Leg(wallet, D("-2")), Leg(fees, D("2"))])
    small = books.place_hold(wallet, D("0.50"), "order")
    books.settle_hold(small, D("0.50"), [Leg(fees, D("0.50"))], kind="trade")  # spent whole: posted
    books.flush()
    db.session.commit()
    assert stored(PlatformAccount, fees.id, PlatformAccount.balance) == D("33.50")
    assert stored(Wallet, wallet.id, Wallet.balance) == D("66.50")
    assert db.session.get(Hold, small.id).status == "posted"
    report = ledger.check()
    assert report.ok, report.problems()


def test_a_batch_refuses_what_the_one_row_calls_refuse_and_says_why(db, user, bob):
    wallet = funded(db, user, "100")
    theirs = funded(db, bob, "10")
    fees = ledger.platform_account("fees", "USD")
    existing = ledger.place_hold(wallet, D("10"), "order")
    unlocked = ledger.place_hold(theirs, D("5"), "order")
    db.session.commit()
    books = ledger.LedgerBatch(ledger.lock_wallets([wallet.id, theirs.id]).values())
    with pytest.raises(ledger.LedgerError, match=rf"^hold {unlocked.id} is not locked$"):
        books.release_hold(db.session.get(Hold, unlocked.id))
    hold = ledger.lock_holds([existing.id])[existing.id]
    for amount in (D("0"), D("-1")):
        with pytest.raises(ledger.LedgerError, match="^hold amount must be positive$"):
            books.place_hold(wallet, amount, "order")
        with pytest.raises(ledger.LedgerError, match="^hold amount must be positive$"):
            books.grow_hold(hold, amount)
    with pytest.raises(InsufficientFunds) as placing:
        books.place_hold(wallet, D("90.01"), "order")  # 90 available: 100 less the 10 held
    with pytest.raises(InsufficientFunds) as growing:
        books.grow_hold(hold, D("90.01"))
    for exc in (placing.value, growing.value):
        assert exc.message == MESSAGE and exc.fields == {"amount": [MESSAGE]}
    for amount in (D("0"), D("10.01")):
        with pytest.raises(ledger.LedgerError, match=rf"^cannot release {amount} of hold {hold.id} \(remaining 10"):
            books.release_hold(hold, amount)
        with pytest.raises(ledger.LedgerError, match=rf"^cannot settle {amount} of hold {hold.id} \(remaining 10"):
            books.settle_hold(hold, amount, [Leg(fees, amount)], kind="trade")
    with pytest.raises(ledger.LedgerError, match="^an entry needs at least two legs$"):
        books.post("fee", [Leg(wallet, D("-1"))])
    with pytest.raises(ledger.LedgerError, match="^zero-amount leg$"):
        books.post("fee", [Leg(wallet, D("0")), Leg(fees, D("0"))])
    with pytest.raises(ledger.LedgerError, match="^entry does not balance"):
        books.post("fee", [Leg(wallet, D("-2")), Leg(fees, D("1"))])
    with pytest.raises(InsufficientFunds) as posting:
        books.post("fee", [Leg(wallet, D("-90.01")), Leg(fees, D("90.01"))])  # into the held 10
    assert posting.value.message == MESSAGE and posting.value.fields == {"amount": [MESSAGE]}
    with pytest.raises(InsufficientFunds, match=f"^{MESSAGE}$"):  # spends more of a hold than is held
        books.post("trade", [Leg(theirs, D("-5.01")), Leg(fees, D("5.01"))], hold_debits={theirs.id: D("5.01")})
    other = ledger.wallet_for(bob, "BTC")
    with pytest.raises(ledger.LedgerError, match=rf"^wallet {other.id} is not part of this batch$"):
        books.place_hold(other, D("1"), "order")
    # Nothing refused changed the batch's balances; what fits still does.
    assert (books.available(wallet), books.available(theirs)) == (D("90"), D("5"))
    books.release_hold(hold)
    with pytest.raises(IllegalTransition, match=rf"^Hold {hold.id} is released\.$"):
        books.release_hold(hold)
    with pytest.raises(IllegalTransition, match=rf"^Hold {hold.id} is released\.$"):
        books.grow_hold(hold, D("1"))
    with pytest.raises(IllegalTransition, match=rf"^Hold {hold.id} is released\.$"):
        books.settle_hold(hold, D("1"), [Leg(fees, D("1"))], kind="trade")
    books.place_hold(wallet, D("100"), "order")  # the whole balance, now nothing is held
    books.flush()
    db.session.commit()
    assert stored(Wallet, wallet.id, Wallet.locked_balance) == D("100")
    assert stored(Wallet, theirs.id, Wallet.locked_balance) == D("5")
    report = ledger.check()
    assert report.ok, report.problems()
