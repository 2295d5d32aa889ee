"""What the ledger tells and records: error messages and fields, what an entry carries, whose wallet is whose."""

from decimal import Decimal

import pytest

from tradeapp.errors import IllegalTransition
from tradeapp.models import Hold, Wallet
from tradeapp.services import ledger
from tradeapp.services.ledger import InsufficientFunds, LedgerError, Leg

D = Decimal
MESSAGE = "Insufficient available USD balance."


def funded(db, user, amount="100"):
    wallet = ledger.wallet_for(user, "USD")
    ledger.post("deposit", [Leg(wallet, D(amount)), Leg(ledger.platform_account("clearing:bank", "USD"), -D(amount))])
    db.session.commit()
    return wallet


def test_each_user_gets_their_own_wallet_per_currency(db, user, create_user):
    other = create_user()
    mine = ledger.wallet_for(user, "usd")
    db.session.commit()
    theirs = ledger.wallet_for(other.id, "USD")
    db.session.commit()
    assert (mine.user_id, mine.currency) == (user.id, "USD")
    assert (theirs.user_id, theirs.currency) == (other.id, "USD") and theirs.id != mine.id
    btc = ledger.wallet_for(user, "BTC")
    assert btc.id not in (mine.id, theirs.id) and btc.currency == "BTC"
    assert ledger.wallet_for(user, "USD").id == mine.id  # found, not created again
    assert (mine.balance, mine.locked_balance) == (0, 0)
    assert db.session.query(Wallet).count() == 3


def test_an_unknown_platform_account_is_named_in_the_error(db):
    with pytest.raises(LedgerError, match="^unknown platform account 'nope'$"):
        ledger.platform_account("nope", "USD")


def test_platform_accounts_are_one_per_code_and_currency(db):
    fees = ledger.platform_account("fees", "usd")
    assert (fees.code, fees.currency, fees.balance) == ("fees", "USD", 0)
    assert ledger.platform_account("fees", "USD").id == fees.id
    assert ledger.platform_account("fees", "EUR").id != fees.id
    assert ledger.platform_account("clearing:bank", "USD").id != fees.id


def test_insufficient_funds_names_the_currency_and_the_amount_field(db, user):
    wallet = funded(db, user, "10")
    with pytest.raises(InsufficientFunds) as hold_error:
        ledger.place_hold(wallet, D("10.01"), "order")
    db.session.rollback()
    with pytest.raises(InsufficientFunds) as post_error:
        ledger.post("withdrawal", [Leg(wallet, D("-10.01")), Leg(ledger.platform_account("fees", "USD"), D("10.01"))])
    db.session.rollback()
    for exc in (hold_error.value, post_error.value):
        assert exc.message == MESSAGE and exc.fields == {"amount": [MESSAGE]}
        assert exc.status == 400 and exc.code == "insufficient_funds"


def test_ledger_errors_say_what_was_wrong(db, user):
    wallet = funded(db, user, "100")
    fees = ledger.platform_account("fees", "USD")
    with pytest.raises(LedgerError, match="^hold amount must be positive$"):
        ledger.place_hold(wallet, D("0"), "order")
    hold = ledger.place_hold(wallet, D("40"), "order")
    db.session.commit()
    with pytest.raises(LedgerError, match=rf"^cannot release 50 of hold {hold.id} \(remaining 40"):
        ledger.release_hold(hold, D("50"))
    db.session.rollback()
    with pytest.raises(LedgerError, match=rf"^cannot settle 0 of hold {hold.id} \(remaining 40"):
        ledger.settle_hold(hold, D("0"), [Leg(fees, D("1"))], kind="trade")
    db.session.rollback()
    with pytest.raises(LedgerError, match="^an entry needs at least two legs$"):
        ledger.post("deposit", [Leg(wallet, D("1"))])
    with pytest.raises(LedgerError, match="^zero-amount leg$"):
        ledger.post("deposit", [Leg(wallet, D("0")), Leg(fees, D("0"))])
    with pytest.raises(LedgerError, match="more decimals than USD allows"):
        ledger.post("deposit", [Leg(wallet, D("0.001")), Leg(fees, D("-0.001"))])
    with pytest.raises(LedgerError, match="finite Decimal"):
        ledger.post("deposit", [Leg(wallet, 1), Leg(fees, -1)])
    db.session.rollback()
    ledger.release_hold(hold)
    db.session.commit()
    with pytest.raises(IllegalTransition, match=rf"^Hold {hold.id} is released\.$"):
        ledger.release_hold(hold)
    db.session.rollback()
    with pytest.raises(IllegalTransition, match=rf"^Hold {hold.id} is released\.$"):
        ledger.settle_hold(hold, D("1"), [Leg(fees, D("1"))], kind="trade")
    db.session.rollback()


def test_a_second_reversal_is_refused_by_name(db, user):
    wallet = funded(db, user, "10")
    entry = ledger.post("fee", [Leg(wallet, D("-1")), Leg(ledger.platform_account("fees", "USD"), D("1"))])
    db.session.commit()
    ledger.reverse(entry)
    db.session.commit()
    with pytest.raises(IllegalTransition, match=r"^This entry was already reversed\.$"):
        ledger.reverse(entry)


def test_a_hold_records_its_reason_and_reference_and_starts_active(db, user):
    wallet = funded(db, user, "100")
    hold = ledger.place_hold(wallet, D("25"), "withdrawal", "w" * 150)
    db.session.commit()
    db.session.expire_all()
    hold = db.session.get(Hold, hold.id)
    assert (hold.reason, hold.reference, hold.status) == ("withdrawal", "w" * 100, "active")
    assert (hold.amount, hold.remaining, hold.posted_total, hold.closed_at) == (D("25"), D("25"), 0, None)
    assert db.session.get(Hold, ledger.place_hold(wallet, D("1"), "order").id).reference == ""


def test_settling_a_hold_carries_memo_reference_and_actor_into_the_entry(db, user, create_staff):
    staff = create_staff()
    wallet = funded(db, user, "100")
    fees = ledger.platform_account("fees", "USD")
    hold = ledger.place_hold(wallet, D("30"), "order", "order:7")
    entry = ledger.settle_hold(hold, D("10"), [Leg(fees, D("10"))], kind="trade", memo="Buy", actor=staff)
    assert (entry.kind, entry.memo, entry.reference, entry.created_by_id) == ("trade", "Buy", "order:7", staff.id)
    other = ledger.settle_hold(hold, D("5"), [Leg(fees, D("5"))], kind="trade", reference="custom")
    assert (other.memo, other.reference, other.created_by_id) == ("", "custom", None)
    plain = ledger.post("deposit", [Leg(wallet, D("1")), Leg(fees, D("-1"))])
    assert (plain.memo, plain.reference, plain.created_by_id, plain.reverses_id) == ("", "", None, None)
    posted = ledger.post("deposit", [Leg(wallet, D("1")), Leg(fees, D("-1"))], memo="m" * 300, reference="r" * 150)
    assert (posted.memo, posted.reference) == ("m" * 255, "r" * 100)
    db.session.commit()
    assert db.session.get(Hold, hold.id).remaining == D("15")
    assert ledger.check().ok


def test_the_report_lists_every_problem_in_words(db):
    report = ledger.LedgerReport(
        unbalanced_entries=[(1, "USD", D("1"))],
        wallet_drift=[(2, "USD", D("5"), D("4"))],
        locked_drift=[(3, "BTC", D("1"), D("0"))],
        negative_available=[(4, "USD", D("-1"))],
        platform_drift=[("fees", "USD", D("2"), D("1"))],
        currency_mismatch=[9],
        open_closed_holds=[7],
    )
    assert not report.ok
    assert report.problems() == [
        "entry 1 does not balance in USD: off by 1",
        "wallet 2 (USD) balance 5 but postings say 4",
        "wallet 3 (BTC) locked 1 but active holds say 0",
        "wallet 4 (USD) has negative available balance -1",
        "platform fees (USD) balance 2 but postings say 1",
        "posting 9 currency differs from its account",
        "hold 7 is closed but still reserves money",
    ]
    assert ledger.LedgerReport().ok and ledger.LedgerReport().problems() == []


def test_legs_on_the_same_platform_account_add_up(db, user):
    wallet = funded(db, user, "100")
    fees = ledger.platform_account("fees", "USD")
    db.session.commit()
    ledger.post("fee", [Leg(wallet, D("-10")), Leg(fees, D("4")), Leg(fees, D("6"))])
    db.session.commit()
    db.session.expire_all()
    assert ledger.platform_account("fees", "USD").balance == D("10")
    assert ledger.check().ok


def test_the_report_counts_wallets_and_totals_per_currency(db, user, create_user):
    other = create_user()
    funded(db, user, "100")
    funded(db, other, "50")
    ledger.place_hold(ledger.wallet_for(other, "USD"), D("20"), "order")
    ledger.wallet_for(user, "BTC")  # a wallet with no postings yet balances at zero
    db.session.commit()
    report = ledger.check()
    assert report.ok, report.problems()
    assert (report.wallets, report.entries, report.postings) == (3, 2, 4)
    assert report.totals == {"USD": {"balance": D("150"), "locked": D("20")}, "BTC": {"balance": 0, "locked": 0}}
