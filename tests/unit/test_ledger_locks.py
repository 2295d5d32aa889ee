"""The ledger's fan-out helpers (copy trading's setup, locks and standing holds) and the reconcile alarm."""

from decimal import Decimal

import pytest
from sqlalchemy import select, text, update

from tradeapp import realtime
from tradeapp.errors import IllegalTransition
from tradeapp.mail import outbox_messages
from tradeapp.models import AuditLog, Hold, Wallet
from tradeapp.services import ledger
from tradeapp.services.ledger import InsufficientFunds, LedgerError, Leg

D = Decimal
MESSAGE = "Insufficient available USD balance."


def funded(db, user, amount="100"):
    wallet = ledger.wallet_for(user, "USD")
    ledger.post("deposit", [Leg(wallet, D(amount)), Leg(ledger.platform_account("clearing:bank", "USD"), -D(amount))])
    db.session.commit()
    return wallet


def stored(*columns, ident):
    """What the database holds, read on the session's connection past the session (no autoflush)."""
    from tradeapp.extensions import db

    table = columns[0].class_
    return tuple(db.session.connection().execute(select(*columns).where(table.id == ident)).one())


def wallets_of(db):
    return sorted(
        (w.user_id, w.currency, w.balance, w.locked_balance) for w in db.session.scalars(select(Wallet)).all()
    )


# -- ensure_wallets ------------------------------------------------------------------------------


def test_ensure_wallets_creates_each_missing_wallet_once_at_zero(db, user, create_user):
    other = create_user()
    funded(db, user, "7")
    ledger.ensure_wallets([other.id, user.id, other.id], ["usd", "BTC", "USD"])
    db.session.commit()
    assert wallets_of(db) == sorted(
        [
            (user.id, "USD", D("7"), 0),  # the existing wallet is left as it was
            (user.id, "BTC", 0, 0),
            (other.id, "USD", 0, 0),
            (other.id, "BTC", 0, 0),
        ]
    )
    created = db.session.scalar(select(Wallet).where(Wallet.user_id == other.id, Wallet.currency == "BTC"))
    assert created.created_at is not None and created.updated_at == created.created_at
    ledger.ensure_wallets([user.id, other.id], ["USD", "BTC"])  # all there: nothing to do, no error
    db.session.commit()
    assert len(wallets_of(db)) == 4


@pytest.mark.parametrize(("users", "currencies"), [([], ["USD"]), ("user", [])])
def test_ensure_wallets_with_no_users_or_no_currencies_creates_nothing(db, user, users, currencies):
    ledger.ensure_wallets([user.id] if users == "user" else users, currencies)
    db.session.commit()
    assert wallets_of(db) == []


def test_ensure_wallets_refuses_an_unknown_currency(db, user):
    with pytest.raises(Exception, match="XYZ"):
        ledger.ensure_wallets([user.id], ["XYZ"])


# -- lock_holds / mark_locked --------------------------------------------------------------------


def test_lock_holds_returns_fresh_copies_by_id(db, user):
    wallet = funded(db, user, "100")
    first = ledger.place_hold(wallet, D("10"), "order")
    second = ledger.place_hold(wallet, D("20"), "order")
    db.session.commit()
    assert ledger.lock_holds([]) == {}
    # the rows changed behind the session's back (the first one last: an unordered scan would
    # return it after the second on PostgreSQL): the lock reads them again, in id order
    behind_the_sessions_back(Hold, second.id, remaining=D("15"))
    behind_the_sessions_back(Hold, first.id, remaining=D("9"))
    locked = ledger.lock_holds([second.id, first.id, second.id])
    assert list(locked) == [first.id, second.id]
    assert locked[first.id] is first and locked[second.id] is second
    assert (first.remaining, second.remaining) == (D("9"), D("15"))


def test_holds_locked_together_are_released_from_the_copies(db, user):
    wallet = funded(db, user, "100")
    hold = ledger.place_hold(wallet, D("10"), "order")
    db.session.commit()
    ledger.lock_wallets([wallet.id])
    ledger.lock_holds([hold.id])
    ledger.release_hold(hold, D("4"))
    db.session.commit()
    db.session.expire_all()
    assert (db.session.get(Hold, hold.id).remaining, db.session.get(Wallet, wallet.id).locked_balance) == (6, 6)
    assert ledger.check().ok


def test_wallets_marked_locked_are_posted_from_the_sessions_copies(db, user):
    wallet = funded(db, user, "100")
    db.session.commit()
    rows = db.session.scalars(
        select(Wallet).where(Wallet.id == wallet.id).with_for_update().execution_options(populate_existing=True)
    ).all()
    ledger.mark_locked(rows)
    # a caller that holds the lock already changed its copy (not yet flushed): post builds on it
    wallet.balance = D("100")
    db.session.execute(
        update(Wallet)
        .where(Wallet.id == wallet.id)
        .values(balance=D("90"))
        .execution_options(synchronize_session=False)
    )
    ledger.post("deposit", [Leg(wallet, D("5")), Leg(ledger.platform_account("clearing:bank", "USD"), D("-5"))])
    assert stored(Wallet.balance, ident=wallet.id)[0] == D("105")
    db.session.rollback()


def test_unmarked_wallets_are_read_again_under_the_lock(db, user):
    wallet = funded(db, user, "100")
    db.session.commit()
    db.session.execute(
        update(Wallet)
        .where(Wallet.id == wallet.id)
        .values(balance=D("90"))
        .execution_options(synchronize_session=False)
    )
    ledger.post("deposit", [Leg(wallet, D("5")), Leg(ledger.platform_account("clearing:bank", "USD"), D("-5"))])
    assert stored(Wallet.balance, ident=wallet.id)[0] == D("95")
    db.session.rollback()


# -- grow_hold -----------------------------------------------------------------------------------


def test_grow_hold_reserves_more_under_the_same_hold(db, user):
    wallet = funded(db, user, "100")
    hold = ledger.place_hold(wallet, D("30"), "copy", "sub:1")
    ledger.settle_hold(hold, D("10"), [Leg(ledger.platform_account("fees", "USD"), D("10"))], kind="trade")
    db.session.commit()
    grown = ledger.grow_hold(hold, D("25.50"))
    assert grown is hold
    # flushed: the database has it before the commit
    assert stored(Hold.amount, Hold.remaining, Hold.posted_total, Hold.status, ident=hold.id) == (
        D("55.50"),
        D("45.50"),
        D("10"),
        "active",
    )
    assert stored(Wallet.balance, Wallet.locked_balance, ident=wallet.id) == (D("90"), D("45.50"))
    db.session.commit()
    assert ledger.check().ok


def test_grow_hold_may_take_exactly_the_available_balance_and_no_more(db, user):
    wallet = funded(db, user, "100")
    hold = ledger.place_hold(wallet, D("40"), "copy")
    db.session.commit()
    with pytest.raises(InsufficientFunds) as error:
        ledger.grow_hold(hold, D("60.01"))
    assert error.value.message == MESSAGE and error.value.fields == {"amount": [MESSAGE]}
    db.session.rollback()
    ledger.grow_hold(hold, D("60"))
    db.session.commit()
    db.session.expire_all()
    assert (db.session.get(Wallet, wallet.id).locked_balance, db.session.get(Hold, hold.id).remaining) == (100, 100)


def test_grow_hold_guards(db, user):
    wallet = funded(db, user, "100")
    hold = ledger.place_hold(wallet, D("40"), "copy")
    db.session.commit()
    for amount in (D("0"), D("-1")):
        with pytest.raises(LedgerError, match="^hold amount must be positive$"):
            ledger.grow_hold(hold, amount)
        db.session.rollback()
    with pytest.raises(LedgerError, match="^0.001 has more decimals than USD allows$"):
        ledger.grow_hold(hold, D("0.001"))
    db.session.rollback()
    ledger.release_hold(hold)
    db.session.commit()
    with pytest.raises(IllegalTransition, match=rf"^Hold {hold.id} is released\.$"):
        ledger.grow_hold(hold, D("1"))
    db.session.rollback()
    db.session.expire_all()
    assert (db.session.get(Hold, hold.id).amount, db.session.get(Wallet, wallet.id).locked_balance) == (40, 0)


# -- reconcile -----------------------------------------------------------------------------------


@pytest.fixture()
def staff_events(monkeypatch):
    events = []
    monkeypatch.setattr(realtime, "emit_to_staff", lambda event, data: events.append((event, data)))
    return events


def test_reconcile_of_a_clean_ledger_alerts_nobody(db, user, create_staff, staff_events):
    create_staff(role="admin")
    funded(db, user, "5")
    report = ledger.reconcile()
    assert report.ok and (report.entries, report.wallets) == (1, 1)
    assert staff_events == [] and outbox_messages() == []
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "ledger.drift_detected")) is None


def test_reconcile_audits_drift_tells_staff_and_mails_admins_and_finance(
    db, user, create_user, create_staff, staff_events
):
    admin = create_staff(role="admin")
    finance = create_staff(role="finance")
    create_staff(role="finance", is_active_flag=False)
    create_staff(role="support")
    wallets = [funded(db, create_user(), "5") for _ in range(6)]
    for wallet in reversed(wallets):  # the last wallet's row rewritten first: the report still goes by id
        db.session.execute(text("UPDATE wallets SET balance = 6 WHERE id = :id"), {"id": wallet.id})
    db.session.commit()

    report = ledger.reconcile()

    assert report.wallet_drift == [(w.id, "USD", 6, 5) for w in wallets]
    problems = report.problems()
    assert len(problems) == 6 and problems[0].startswith(f"wallet {wallets[0].id} (USD) balance 6")
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "ledger.drift_detected"))
    assert audit.after == {"problems": problems} and audit.actor_id is None
    assert staff_events == [("ledger_alert", {"problems": 6, "first": problems[:5]})]
    mails = outbox_messages()
    assert sorted(m["to"] for m in mails) == sorted([admin.email, finance.email])
    for mail in mails:
        assert mail["subject"] == "Ledger reconciliation found drift"
        assert all(f"- {line}\n" in mail["text"] for line in problems)


def test_reconcile_quotes_at_most_fifty_problems(db, user, create_user, create_staff, staff_events):
    create_staff(role="finance")
    wallet = funded(db, user, "5")
    for _ in range(55):
        ledger.place_hold(wallet, D("0.01"), "order")
    db.session.execute(text("UPDATE holds SET status = 'released'"))
    db.session.commit()
    report = ledger.reconcile()
    assert len(report.problems()) == 56  # 55 closed holds still reserving, and the wallet's locked total
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "ledger.drift_detected"))
    assert audit.after["problems"] == report.problems()[:50]
    assert staff_events == [("ledger_alert", {"problems": 56, "first": report.problems()[:5]})]
    (mail,) = outbox_messages()
    assert f"- {report.problems()[49]}\n" in mail["text"] and f"- {report.problems()[50]}\n" not in mail["text"]


# -- lock_user_wallets / lock_wallets / holds read again under the lock -----------------------------


def behind_the_sessions_back(model, ident, **values):
    """Change a row in the database, leaving the session's copy as it was (another writer's commit)."""
    from tradeapp.extensions import db

    db.session.execute(
        update(model).where(model.id == ident).values(**values).execution_options(synchronize_session=False)
    )


def test_lock_user_wallets_locks_only_the_named_currencies_in_id_order(db, user, create_user):
    usd = funded(db, user, "10")
    eth = ledger.wallet_for(user, "ETH")
    btc = ledger.wallet_for(user, "BTC")
    ledger.wallet_for(create_user(), "USD")
    db.session.commit()
    locked = ledger.lock_user_wallets(user.id, ["btc", "USD", "ETH"])
    assert list(locked) == ["USD", "ETH", "BTC"]  # id order, not the order asked or the currency order
    assert [w.id for w in locked.values()] == [usd.id, eth.id, btc.id]
    db.session.rollback()
    assert ledger.lock_user_wallets(user.id, ["USD"]) == {"USD": usd}
    db.session.rollback()


def test_lock_user_wallets_creates_missing_wallets_and_reads_rows_again(db, user):
    usd = funded(db, user, "10")
    assert usd.balance == D("10")  # loaded
    behind_the_sessions_back(Wallet, usd.id, balance=D("12"))
    locked = ledger.lock_user_wallets(user.id, ["USD", "EUR"])
    assert sorted(locked) == ["EUR", "USD"]
    assert (locked["USD"] is usd, usd.balance, locked["EUR"].balance) == (True, D("12"), 0)
    db.session.rollback()


def test_lock_wallets_reads_rows_again_in_id_order(db, user, create_user):
    first = funded(db, user, "10")
    second = funded(db, create_user(), "20")
    assert (first.balance, second.balance) == (D("10"), D("20"))  # loaded
    behind_the_sessions_back(Wallet, first.id, balance=D("11"))
    locked = ledger.lock_wallets([second.id, first.id, second.id])
    assert list(locked) == [first.id, second.id]
    assert (locked[first.id] is first, first.balance, second.balance) == (True, D("11"), D("20"))
    assert ledger.lock_wallets([]) == {}
    db.session.rollback()


@pytest.mark.parametrize("operation", ["release", "settle", "grow"])
def test_a_hold_is_read_again_when_this_transaction_first_locks_it(db, user, operation):
    wallet = funded(db, user, "100")
    hold = ledger.place_hold(wallet, D("30"), "order")
    db.session.commit()
    assert hold.remaining == D("30")  # loaded in this new transaction, not locked yet
    behind_the_sessions_back(Hold, hold.id, remaining=D("20"), amount=D("20"))
    behind_the_sessions_back(Wallet, wallet.id, locked_balance=D("20"))
    fees = ledger.platform_account("fees", "USD")
    if operation == "release":
        ledger.release_hold(hold)
        expected = (D("20"), 0, "released")
    elif operation == "settle":
        with pytest.raises(LedgerError, match=rf"^cannot settle 25 of hold {hold.id} \(remaining 20(\.0+)?\)$"):
            ledger.settle_hold(hold, D("25"), [Leg(fees, D("25"))], kind="trade")
        ledger.settle_hold(hold, D("20"), [Leg(fees, D("20"))], kind="trade")
        expected = (D("20"), 0, "posted")
    else:
        ledger.grow_hold(hold, D("5"))
        expected = (D("25"), D("25"), "active")
    db.session.commit()
    db.session.expire_all()
    stored_hold = db.session.get(Hold, hold.id)
    assert (stored_hold.amount, stored_hold.remaining, stored_hold.status) == expected
    assert ledger.check().ok, ledger.check().problems()


def test_grow_hold_by_less_than_one_unit(db, user):
    wallet = funded(db, user, "1")
    hold = ledger.place_hold(wallet, D("0.50"), "copy")
    ledger.grow_hold(hold, D("0.01"))
    ledger.grow_hold(hold, D("0.49"))
    db.session.commit()
    assert (hold.amount, hold.remaining, wallet.locked_balance) == (1, 1, 1)


def test_the_drift_record_carries_no_address_even_inside_a_request(app, db, user, create_staff, staff_events):
    wallet = funded(db, user, "5")
    db.session.execute(text("UPDATE wallets SET balance = 6 WHERE id = :id"), {"id": wallet.id})
    db.session.commit()
    with app.test_request_context(environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        assert not ledger.reconcile().ok
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "ledger.drift_detected"))
    assert audit.ip_address == ""
