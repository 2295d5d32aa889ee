"""Ledger primitives: balanced entries, holds, reversals, reconciliation, immutability, races."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.concurrency import race
from tests.conftest import PG_URL
from tradeapp.errors import IllegalTransition
from tradeapp.services import ledger
from tradeapp.services.ledger import InsufficientFunds, LedgerError, Leg

D = Decimal


def deposit(db, user, amount, currency="USD"):
    wallet = ledger.wallet_for(user, currency)
    clearing = ledger.platform_account("clearing:bank", currency)
    ledger.post("deposit", [Leg(wallet, D(amount)), Leg(clearing, -D(amount))], reference="test")
    db.session.commit()
    return wallet


def transfer(db, sender_id, recipient_id, amount, currency="USD"):
    a = ledger.wallet_for(sender_id, currency)
    b = ledger.wallet_for(recipient_id, currency)
    ledger.post("transfer", [Leg(a, -D(amount)), Leg(b, D(amount))])
    db.session.commit()


def test_deposit_updates_balance_and_reconciles(db, user):
    wallet = deposit(db, user, "100.50")
    assert wallet.balance == D("100.50") and wallet.available_balance == D("100.50")
    report = ledger.check()
    assert report.ok, report.problems()
    assert report.entries == 1 and report.postings == 2
    assert report.totals["USD"]["balance"] == D("100.50")


def test_unbalanced_entry_is_refused_and_writes_nothing(db, user):
    wallet = ledger.wallet_for(user, "USD")
    clearing = ledger.platform_account("clearing:bank", "USD")
    db.session.commit()
    with pytest.raises(LedgerError):
        ledger.post("deposit", [Leg(wallet, D("10")), Leg(clearing, D("-9.99"))])
    db.session.rollback()
    assert ledger.check().entries == 0


def test_amount_with_too_many_decimals_is_refused(db, user):
    wallet = ledger.wallet_for(user, "USD")
    clearing = ledger.platform_account("clearing:bank", "USD")
    with pytest.raises(LedgerError):
        ledger.post("deposit", [Leg(wallet, D("0.001")), Leg(clearing, D("-0.001"))])
    db.session.rollback()


def test_debit_beyond_available_is_refused(db, user, create_user):
    other = create_user()
    deposit(db, user, "50")
    with pytest.raises(InsufficientFunds):
        transfer(db, user.id, other.id, "50.01")
    db.session.rollback()
    wallet = ledger.wallet_for(user, "USD")
    assert wallet.balance == D("50")
    assert ledger.check().ok


def test_hold_reduces_available_and_release_restores_it(db, user, create_user):
    other = create_user()
    wallet = deposit(db, user, "100")
    hold = ledger.place_hold(wallet, D("70"), "withdrawal", "w:1")
    db.session.commit()
    assert wallet.locked_balance == D("70") and wallet.available_balance == D("30")
    with pytest.raises(InsufficientFunds):
        transfer(db, user.id, other.id, "30.01")
    db.session.rollback()
    with pytest.raises(InsufficientFunds):
        ledger.place_hold(wallet, D("30.01"), "order")
    db.session.rollback()
    ledger.release_hold(hold, D("20"))
    db.session.commit()
    assert hold.remaining == D("50") and hold.status == "active"
    ledger.release_hold(hold)
    db.session.commit()
    assert hold.status == "released" and wallet.locked_balance == 0
    with pytest.raises(IllegalTransition):
        ledger.release_hold(hold)
    db.session.rollback()
    assert ledger.check().ok


def test_settle_hold_in_parts_then_release_the_rest(db, user):
    wallet = deposit(db, user, "100")
    hold = ledger.place_hold(wallet, D("60"), "order", "order:1")
    fees = ledger.platform_account("fees", "USD")
    ledger.settle_hold(hold, D("25"), [Leg(fees, D("25"))], kind="trade")
    db.session.commit()
    assert wallet.balance == D("75") and wallet.locked_balance == D("35")
    ledger.settle_hold(hold, D("10"), [Leg(fees, D("10"))], kind="trade")
    ledger.release_hold(hold)
    db.session.commit()
    assert hold.status == "posted" and hold.posted_total == D("35") and hold.remaining == 0
    assert wallet.balance == D("65") and wallet.locked_balance == 0
    with pytest.raises(LedgerError):
        ledger.settle_hold(ledger.place_hold(wallet, D("5"), "order"), D("6"), [Leg(fees, D("6"))], kind="trade")
    db.session.rollback()
    assert ledger.check().ok


def test_reverse_once(db, user):
    deposit(db, user, "40")
    from sqlalchemy import select

    from tradeapp.models import JournalEntry

    entry = db.session.scalar(select(JournalEntry))
    ledger.reverse(entry)
    db.session.commit()
    assert ledger.wallet_for(user, "USD").balance == 0
    with pytest.raises(IllegalTransition):
        ledger.reverse(entry)
    db.session.rollback()
    assert ledger.check().ok


def test_check_detects_drift(db, user):
    wallet = deposit(db, user, "10")
    db.session.execute(text("UPDATE wallets SET balance = :b WHERE id = :id"), {"b": "11", "id": wallet.id})
    db.session.commit()
    report = ledger.check()
    assert not report.ok
    assert any("postings say" in line for line in report.problems())


@pytest.mark.parametrize(
    "statement", ["UPDATE postings SET amount = 1", "DELETE FROM postings", "DELETE FROM journal_entries"]
)
def test_entries_and_postings_are_immutable(db, user, statement):
    deposit(db, user, "10")
    with pytest.raises(Exception, match="immutable"):
        db.session.execute(text(statement))
        db.session.flush()
    db.session.rollback()
    assert ledger.check().ok


def test_ledger_check_cli_exit_codes(app, db, user):
    deposit(db, user, "10")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["ledger", "check"])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output
    wallet = ledger.wallet_for(user, "USD")
    db.session.execute(text("UPDATE wallets SET balance = :b WHERE id = :id"), {"b": "9", "id": wallet.id})
    db.session.commit()
    result = runner.invoke(args=["ledger", "check"])
    assert result.exit_code == 1
    assert "postings say" in result.output


# -- concurrency (PostgreSQL: real row locks) ---------------------------------------------------

postgres_only = pytest.mark.skipif(not PG_URL, reason="row-lock races need PostgreSQL")


@postgres_only
def test_twenty_threads_racing_for_the_same_funds(app, db, user, create_user):
    recipients = [create_user().id for _ in range(20)]
    deposit(db, user, "100")
    sender = user.id

    def work(i):
        from tradeapp.extensions import db as tdb

        transfer(tdb, sender, recipients[i], "10")

    # 20 transfers of 10 from a balance of 100: exactly ten can succeed.
    results = race(app, 20, work, refused=(InsufficientFunds,))
    assert results.count("ok") == 10, results
    assert results.count("insufficient") == 10, results
    db.session.expire_all()
    assert ledger.wallet_for(sender, "USD").balance == 0
    assert ledger.check().ok


@postgres_only
def test_twenty_threads_racing_holds(app, db, user):
    wallet_id = deposit(db, user, "100").id

    def work(i):
        from tradeapp.extensions import db as tdb
        from tradeapp.models import Wallet

        ledger.place_hold(tdb.session.get(Wallet, wallet_id), D("30"), "withdrawal", f"w:{i}")
        tdb.session.commit()

    results = race(app, 20, work, refused=(InsufficientFunds,))
    assert results.count("ok") == 3, results
    db.session.expire_all()
    assert ledger.wallet_for(user, "USD").locked_balance == D("90")
    assert ledger.check().ok


@postgres_only
def test_opposite_transfers_never_deadlock(app, db, create_user):
    a, b = create_user(), create_user()
    deposit(db, a, "1000")
    deposit(db, b, "1000")
    ids = (a.id, b.id)

    def work(i):
        from tradeapp.extensions import db as tdb

        for _ in range(5):
            src, dst = (ids[0], ids[1]) if i % 2 == 0 else (ids[1], ids[0])
            transfer(tdb, src, dst, "1")

    results = race(app, 16, work, refused=(InsufficientFunds,))
    assert results == ["ok"] * 16, results
    db.session.expire_all()
    assert ledger.wallet_for(a, "USD").balance + ledger.wallet_for(b, "USD").balance == D("2000")
    assert ledger.check().ok


# -- property: any sequence of operations keeps the books exact ----------------------------------

amounts = st.decimals(min_value=D("0.01"), max_value=D("500"), places=2)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("deposit"), st.integers(0, 2), amounts),
        st.tuples(st.just("transfer"), st.integers(0, 2), st.integers(0, 2), amounts),
        st.tuples(st.just("hold"), st.integers(0, 2), amounts),
        st.tuples(st.just("release"), st.integers(0, 50)),
        st.tuples(st.just("settle"), st.integers(0, 50), amounts),
        st.tuples(st.just("withdraw"), st.integers(0, 2), amounts),
    ),
    max_size=25,
)


#: every kind of operation, each able to succeed (run before the random sequences)
EVERY_KIND = [
    ("deposit", 0, D("300")),
    ("transfer", 0, 1, D("50")),
    ("hold", 0, D("100")),
    ("settle", 0, D("30")),
    ("release", 0),
    ("withdraw", 1, D("20")),
]


def test_random_operations_keep_ledger_balanced(app, db, create_user):
    """Any sequence keeps the books exact, and each operation succeeds exactly when the model says it may.

    The model is the available balance read before the operation and the hold's state: a ledger
    that refused everything, or allowed an overdraft, fails here.
    """
    from collections import Counter

    outcomes: Counter = Counter()

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(ops=operations)
    @example(ops=EVERY_KIND)
    def run(ops):
        _random_operations(db, create_user, ops, outcomes)

    run()
    for kind in ("deposit", "transfer", "hold", "release", "settle", "withdraw"):
        assert outcomes[(kind, "ok")] > 0, outcomes
    done = sum(n for (_, result), n in outcomes.items() if result == "ok")
    assert done >= 0.5 * sum(outcomes.values()), outcomes


def _random_operations(db, create_user, ops, outcomes) -> None:
    from sqlalchemy import select

    from tests.conftest import _empty_tables
    from tradeapp.models import Hold, Wallet

    db.session.remove()
    _empty_tables(db)
    users = [create_user(email=f"p{i}@example.com", username=f"p{i}").id for i in range(3)]
    for user_id in users:  # money to work with, so that most operations can go through
        deposit(db, user_id, "1000")
    holds = []

    def available(user_id):
        db.session.expire_all()
        wallet = ledger.wallet_for(user_id, "USD")
        result = wallet.balance - wallet.locked_balance
        db.session.commit()
        return result

    def hold_state(index):
        hold = db.session.get(Hold, holds[index % len(holds)])
        return hold.status, hold.remaining

    for op in ops:
        kind = op[0]
        if kind == "transfer" and op[1] == op[2] or kind in ("release", "settle") and not holds:
            continue
        # what the operation should do, from the state before it
        if kind == "deposit":
            allowed = True
        elif kind in ("transfer", "hold", "withdraw"):
            allowed = available(users[op[1]]) >= op[-1]
        else:
            status, remaining = hold_state(op[1])
            allowed = status == "active" and (kind == "release" or min(op[2], remaining) > 0)
        try:
            if kind == "deposit":
                deposit(db, users[op[1]], op[2])
            elif kind == "transfer":
                transfer(db, users[op[1]], users[op[2]], op[3])
            elif kind == "hold":
                holds.append(ledger.place_hold(ledger.wallet_for(users[op[1]], "USD"), op[2], "order").id)
                db.session.commit()
            elif kind == "release":
                ledger.release_hold(db.session.get(Hold, holds[op[1] % len(holds)]))
                db.session.commit()
            elif kind == "settle":
                hold = db.session.get(Hold, holds[op[1] % len(holds)])
                amount = min(op[2], hold.remaining)
                ledger.settle_hold(hold, amount, [Leg(ledger.platform_account("fees", "USD"), amount)], kind="trade")
                db.session.commit()
            elif kind == "withdraw":
                wallet = ledger.wallet_for(users[op[1]], "USD")
                out = ledger.platform_account("payouts_in_flight", "USD")
                ledger.post("withdrawal", [Leg(wallet, -op[2]), Leg(out, op[2])])
                db.session.commit()
            done = True
        except (InsufficientFunds, IllegalTransition, LedgerError):
            db.session.rollback()
            done = False
        assert done == allowed, (op, allowed)
        outcomes[(kind, "ok" if done else "refused")] += 1
        report = ledger.check()
        assert report.ok, report.problems()

    for wallet in db.session.scalars(select(Wallet)):
        assert wallet.available_balance >= 0 and wallet.locked_balance >= 0
