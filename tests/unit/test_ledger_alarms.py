"""Every ``ledger check`` alarm set off by corrupting the books on purpose; the guards of post, holds and reverse."""

from decimal import Decimal

import pytest
from sqlalchemy import insert, select, text, update

from tests.conftest import PG_URL
from tradeapp.errors import IllegalTransition
from tradeapp.models import Hold, JournalEntry, PlatformAccount, Posting, Wallet
from tradeapp.services import ledger
from tradeapp.services.ledger import InsufficientFunds, LedgerError, Leg

D = Decimal


def deposit(db, user, amount, currency="USD"):
    wallet = ledger.wallet_for(user, currency)
    clearing = ledger.platform_account("clearing:bank", currency)
    entry = ledger.post("deposit", [Leg(wallet, D(amount)), Leg(clearing, -D(amount))], reference="test")
    db.session.commit()
    return wallet, entry


def corrupt(db, statement):
    """Write behind the ledger's back (committed), as a bad migration or a hand edit would.

    Core statements, so amounts go through the Money type (fixed-width text on SQLite).
    """
    db.session.execute(statement)
    db.session.commit()
    db.session.expire_all()


def run_cli(app):
    return app.test_cli_runner().invoke(args=["ledger", "check"])


def only_alarm(report, name):
    """The report's problems are exactly the one alarm ``name`` (no other list is set)."""
    alarms = (
        "unbalanced_entries",
        "wallet_drift",
        "locked_drift",
        "negative_available",
        "platform_drift",
        "currency_mismatch",
        "open_closed_holds",
    )
    assert not report.ok
    fired = [a for a in alarms if getattr(report, a)]
    assert fired == [name], report.problems()


def test_clean_books_raise_no_alarm(app, db, user):
    wallet, _ = deposit(db, user, "100")
    ledger.place_hold(wallet, D("40"), "order")
    db.session.commit()
    report = ledger.check()
    assert report.ok, report.problems()
    assert report.totals["USD"] == {"balance": D("100"), "locked": D("40")}
    result = run_cli(app)
    assert result.exit_code == 0 and "OK" in result.output


@pytest.mark.skipif(not PG_URL, reason="the snapshot connection is PostgreSQL's")
def test_check_reads_the_committed_books_on_a_connection_of_its_own(db, user):
    # On PostgreSQL, check reads one REPEATABLE READ snapshot of what is committed, on its own
    # connection: what the caller's transaction has written but not committed is not in it.
    wallet, _ = deposit(db, user, "100")
    db.session.execute(update(Wallet).where(Wallet.id == wallet.id).values(balance=D("150")))
    report = ledger.check()
    assert report.ok, report.problems()
    assert report.totals["USD"]["balance"] == D("100")
    db.session.rollback()


def test_locked_drift_fires_when_locked_differs_from_active_holds(app, db, user):
    wallet, _ = deposit(db, user, "100")
    ledger.place_hold(wallet, D("40"), "order")
    db.session.commit()
    corrupt(db, update(Wallet).where(Wallet.id == wallet.id).values(locked_balance=D("45")))
    report = ledger.check()
    only_alarm(report, "locked_drift")
    assert report.locked_drift == [(wallet.id, "USD", D("45"), D("40"))]
    result = run_cli(app)
    assert result.exit_code == 1
    assert f"DRIFT: wallet {wallet.id} (USD) locked 45" in result.stderr


def test_negative_available_fires_when_more_is_held_than_owned(app, db, user):
    """The wallets' CHECK constraint forbids this state; the alarm is the second line of defence."""
    wallet, _ = deposit(db, user, "100")
    hold = ledger.place_hold(wallet, D("100"), "order")
    db.session.commit()
    # Held 150 of a 100 balance, holds and locked agreeing: only the available balance is wrong.
    # The corruption needs the constraint lifted; it is committed (on PostgreSQL the check reads its
    # own snapshot on a connection of its own), then undone and the constraint put back.
    postgres = db.engine.dialect.name == "postgresql"
    if postgres:
        db.session.execute(text("ALTER TABLE wallets DROP CONSTRAINT ck_wallets_available_non_negative"))
    else:
        db.session.execute(text("PRAGMA ignore_check_constraints = ON"))
    try:
        db.session.execute(update(Hold).where(Hold.id == hold.id).values(amount=D("150"), remaining=D("150")))
        db.session.execute(update(Wallet).where(Wallet.id == wallet.id).values(locked_balance=D("150")))
        db.session.commit()
        db.session.expire_all()
        report = ledger.check()
    finally:
        db.session.rollback()
        db.session.execute(update(Hold).where(Hold.id == hold.id).values(amount=D("100"), remaining=D("100")))
        db.session.execute(update(Wallet).where(Wallet.id == wallet.id).values(locked_balance=D("100")))
        if postgres:
            db.session.execute(
                text(
                    "ALTER TABLE wallets ADD CONSTRAINT ck_wallets_available_non_negative"
                    " CHECK (balance >= locked_balance)"
                )
            )
        else:
            db.session.execute(text("PRAGMA ignore_check_constraints = OFF"))
        db.session.commit()
    only_alarm(report, "negative_available")
    assert report.negative_available == [(wallet.id, "USD", D("-50"))]
    assert ledger.check().ok  # the corruption was undone, constraint and all


def test_platform_drift_fires_when_a_platform_balance_differs_from_its_postings(app, db, user):
    deposit(db, user, "100")
    clearing = db.session.scalar(select(PlatformAccount).where(PlatformAccount.code == "clearing:bank"))
    corrupt(db, update(PlatformAccount).where(PlatformAccount.id == clearing.id).values(balance=D("-99")))
    report = ledger.check()
    only_alarm(report, "platform_drift")
    assert report.platform_drift == [("clearing:bank", "USD", D("-99"), D("-100"))]
    result = run_cli(app)
    assert result.exit_code == 1 and "DRIFT: platform clearing:bank (USD)" in result.stderr


def test_closed_hold_drift_fires_when_a_released_hold_still_reserves_money(app, db, user):
    wallet, _ = deposit(db, user, "100")
    hold = ledger.place_hold(wallet, D("40"), "order")
    db.session.commit()
    ledger.release_hold(hold)
    db.session.commit()
    assert db.session.get(Hold, hold.id).status == "released"
    corrupt(db, update(Hold).where(Hold.id == hold.id).values(remaining=D("5")))
    report = ledger.check()
    only_alarm(report, "open_closed_holds")
    assert report.open_closed_holds == [hold.id]
    assert run_cli(app).exit_code == 1


def test_unbalanced_entry_fires_when_a_posting_is_added_behind_the_ledgers_back(app, db, user):
    wallet, entry = deposit(db, user, "100")
    corrupt(db, insert(Posting).values(entry_id=entry.id, wallet_id=wallet.id, currency="USD", amount=D("1")))
    report = ledger.check()
    assert report.unbalanced_entries == [(entry.id, "USD", D("1"))]
    assert report.wallet_drift == [(wallet.id, "USD", D("100"), D("101"))]
    assert "does not balance" in "\n".join(report.problems())


def test_currency_mismatch_fires_for_a_posting_in_another_currency_than_its_account(app, db, user):
    wallet, entry = deposit(db, user, "100")
    usd_clearing = ledger.platform_account("clearing:bank", "USD")
    db.session.commit()
    # a balanced EUR pair of postings, but booked against USD accounts
    db.session.execute(insert(Posting).values(entry_id=entry.id, wallet_id=wallet.id, currency="EUR", amount=D("1")))
    corrupt(
        db,
        insert(Posting).values(entry_id=entry.id, platform_account_id=usd_clearing.id, currency="EUR", amount=D("-1")),
    )
    report = ledger.check()
    assert len(report.currency_mismatch) == 2
    assert any("currency differs" in line for line in report.problems())


# -- input guards ------------------------------------------------------------------------------


@pytest.fixture()
def accounts(db, user):
    wallet, _ = deposit(db, user, "100")
    return wallet, ledger.platform_account("clearing:bank", "USD")


def _entries(db):
    db.session.rollback()
    return db.session.query(JournalEntry).count()


@pytest.mark.parametrize(
    "amounts",
    [
        pytest.param([D("5")], id="one-leg"),
        pytest.param([D("5"), D("0"), D("-5")], id="zero-leg"),
        pytest.param([D("5"), D("-4")], id="unbalanced"),
        pytest.param([D("0.001"), D("-0.001")], id="too-many-decimals"),
        pytest.param([D("NaN"), D("-5")], id="not-finite"),
        pytest.param([D("Infinity"), D("-Infinity")], id="infinite"),
        pytest.param([5.0, -5.0], id="float"),
    ],
)
def test_post_refuses_malformed_entries_and_writes_nothing(db, accounts, amounts):
    wallet, clearing = accounts
    accounts_cycle = [wallet, clearing, clearing]
    legs = [Leg(accounts_cycle[i], amount) for i, amount in enumerate(amounts)]
    before = _entries(db)
    with pytest.raises(LedgerError):
        ledger.post("deposit", legs)
    assert _entries(db) == before
    assert ledger.check().ok


def test_post_balances_per_currency_not_in_total(db, user, accounts):
    wallet, clearing = accounts
    btc = ledger.platform_account("clearing:bank", "BTC")
    with pytest.raises(LedgerError, match="does not balance"):
        ledger.post("deposit", [Leg(wallet, D("1")), Leg(btc, D("-1"))])
    db.session.rollback()


def test_post_refuses_a_debit_into_held_money(db, accounts):
    wallet, clearing = accounts
    ledger.place_hold(wallet, D("60"), "order")
    db.session.commit()
    with pytest.raises(InsufficientFunds):
        ledger.post("withdrawal", [Leg(wallet, D("-40.01")), Leg(clearing, D("40.01"))])
    db.session.rollback()
    ledger.post("withdrawal", [Leg(wallet, D("-40")), Leg(clearing, D("40"))])  # exactly the available part
    db.session.commit()
    assert db.session.get(Wallet, wallet.id).available_balance == 0
    assert ledger.check().ok


def test_unknown_platform_account_is_refused(db):
    with pytest.raises(LedgerError):
        ledger.platform_account("no-such-account", "USD")


@pytest.mark.parametrize("amount", [D("0"), D("-1"), D("0.001"), D("NaN")])
def test_place_hold_refuses_bad_amounts(db, accounts, amount):
    wallet, _ = accounts
    with pytest.raises(LedgerError):
        ledger.place_hold(wallet, amount, "order")
    db.session.rollback()
    assert db.session.query(Hold).count() == 0
    assert db.session.get(Wallet, wallet.id).locked_balance == 0


def test_place_hold_refuses_more_than_available_and_exactly_available_fits(db, accounts):
    wallet, _ = accounts
    ledger.place_hold(wallet, D("30"), "order")
    db.session.commit()
    with pytest.raises(InsufficientFunds):
        ledger.place_hold(wallet, D("70.01"), "order")
    db.session.rollback()
    ledger.place_hold(wallet, D("70"), "order")
    db.session.commit()
    assert db.session.get(Wallet, wallet.id).available_balance == 0
    assert ledger.check().ok


@pytest.mark.parametrize("amount", [D("0"), D("-1"), D("40.01"), D("0.001")])
def test_release_refuses_amounts_outside_the_remainder(db, accounts, amount):
    wallet, _ = accounts
    hold = ledger.place_hold(wallet, D("40"), "order")
    db.session.commit()
    with pytest.raises(LedgerError):
        ledger.release_hold(hold, amount)
    db.session.rollback()
    hold = db.session.get(Hold, hold.id)
    assert hold.remaining == D("40") and hold.status == "active"
    assert db.session.get(Wallet, wallet.id).locked_balance == D("40")


@pytest.mark.parametrize("amount", [D("0"), D("-1"), D("40.01")])
def test_settle_refuses_amounts_outside_the_remainder(db, accounts, amount):
    wallet, clearing = accounts
    hold = ledger.place_hold(wallet, D("40"), "order")
    db.session.commit()
    with pytest.raises(LedgerError):
        ledger.settle_hold(hold, amount, [Leg(clearing, amount)], kind="withdrawal")
    db.session.rollback()
    assert db.session.get(Hold, hold.id).remaining == D("40")
    assert _entries(db) == 1


def test_closed_holds_refuse_release_and_settle(db, accounts):
    wallet, clearing = accounts
    released = ledger.place_hold(wallet, D("10"), "order")
    ledger.release_hold(released)
    posted = ledger.place_hold(wallet, D("10"), "order")
    ledger.settle_hold(posted, D("10"), [Leg(clearing, D("10"))], kind="withdrawal")
    db.session.commit()
    assert (db.session.get(Hold, released.id).status, db.session.get(Hold, posted.id).status) == ("released", "posted")
    for hold in (released, posted):
        with pytest.raises(IllegalTransition):
            ledger.release_hold(db.session.get(Hold, hold.id))
        db.session.rollback()
        with pytest.raises(IllegalTransition):
            ledger.settle_hold(db.session.get(Hold, hold.id), D("1"), [Leg(clearing, D("1"))], kind="withdrawal")
        db.session.rollback()
    assert ledger.check().ok


def test_settle_in_parts_marks_posted_and_partly_released_hold_posted(db, accounts):
    wallet, clearing = accounts
    hold = ledger.place_hold(wallet, D("40"), "order")
    ledger.settle_hold(hold, D("15"), [Leg(clearing, D("15"))], kind="withdrawal")
    ledger.release_hold(hold, D("5"))
    db.session.commit()
    hold = db.session.get(Hold, hold.id)
    assert (hold.status, hold.remaining, hold.posted_total) == ("active", D("20"), D("15"))
    ledger.release_hold(hold)
    db.session.commit()
    hold = db.session.get(Hold, hold.id)
    assert (hold.status, hold.remaining, hold.posted_total) == ("posted", 0, D("15"))
    assert hold.closed_at is not None
    assert db.session.get(Wallet, wallet.id).balance == D("85")
    assert db.session.get(Wallet, wallet.id).locked_balance == 0
    assert ledger.check().ok


# -- reverse -------------------------------------------------------------------------------------


def test_reverse_restores_every_account_and_links_to_the_original(db, user, create_staff):
    staff = create_staff()
    wallet, entry = deposit(db, user, "100")
    fees = ledger.platform_account("fees", "USD")
    clearing = ledger.platform_account("clearing:bank", "USD")
    charge = ledger.post("fee", [Leg(wallet, D("-2.50")), Leg(fees, D("2.50"))], reference="fee:1")
    db.session.commit()
    reversal = ledger.reverse(charge, actor=staff)
    db.session.commit()
    assert reversal.kind == "reversal" and reversal.reverses_id == charge.id
    assert reversal.reference == "fee:1" and reversal.created_by_id == staff.id
    assert reversal.memo == f"Reversal of entry {charge.id}"
    amounts = {
        (p.wallet_id, p.platform_account_id, p.amount)
        for p in db.session.scalars(select(Posting).where(Posting.entry_id == reversal.id))
    }
    assert amounts == {(wallet.id, None, D("2.50")), (None, fees.id, D("-2.50"))}
    assert db.session.get(Wallet, wallet.id).balance == D("100")
    assert db.session.get(PlatformAccount, fees.id).balance == 0
    assert db.session.get(PlatformAccount, clearing.id).balance == D("-100")
    assert ledger.check().ok
    with pytest.raises(IllegalTransition):
        ledger.reverse(charge)
    db.session.rollback()
    custom = ledger.reverse(entry, memo="chargeback")
    db.session.commit()
    assert custom.memo == "chargeback"
    assert db.session.get(Wallet, wallet.id).balance == 0


def test_reverse_of_a_credit_already_spent_is_refused(db, user):
    wallet, entry = deposit(db, user, "100")
    ledger.place_hold(wallet, D("1"), "order")
    db.session.commit()
    with pytest.raises(InsufficientFunds):
        ledger.reverse(entry)
    db.session.rollback()
    assert db.session.get(Wallet, wallet.id).balance == D("100")
    assert db.session.scalar(select(JournalEntry).where(JournalEntry.reverses_id == entry.id)) is None
