"""Profit share settlement, exact: who is paid what, from the allocation's hold or the free balance,
the journal entry's postings, the settlement row, the high-water mark when not all is payable, and
the notifications. The realised profit is set by hand (the copying path that produces it is tested in
``test_copying.py``)."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.copy_trading.helpers import follow, trader_row
from tests.trading_helpers import balances, fund
from tradeapp.extensions import db
from tradeapp.models import (
    CopySubscription,
    Hold,
    JournalEntry,
    Notification,
    PlatformAccount,
    Posting,
    ProfitShareSettlement,
    Wallet,
)
from tradeapp.services import ledger
from tradeapp.services.copy_trading import profit_share

D = Decimal
PERIOD = "2026-11-01"


@pytest.fixture()
def follower(create_user):
    user = create_user(email="f@example.com", username="follower", kyc_status="approved")
    fund(user, "USD", "10000")
    return user


def _with(sub_id: int, **fields) -> CopySubscription:
    """Set fields of the subscription (committed) and return it fresh."""
    sub = db.session.get(CopySubscription, sub_id)
    for name, value in fields.items():
        setattr(sub, name, value)
    db.session.commit()
    db.session.expire_all()
    return db.session.get(CopySubscription, sub_id)


def _shrink_hold(sub: CopySubscription, to: str) -> None:
    """Give back all but ``to`` of the allocation's hold to the free balance."""
    hold = db.session.get(Hold, sub.hold_id)
    ledger.release_hold(hold, hold.remaining - D(to))
    db.session.commit()


def _fees(currency: str = "USD") -> Decimal:
    db.session.expire_all()
    balance = db.session.scalar(
        select(PlatformAccount.balance).where(PlatformAccount.code == "fees", PlatformAccount.currency == currency)
    )
    return balance or D(0)


def _postings(entry_id: int) -> list[tuple]:
    rows = db.session.scalars(select(Posting).where(Posting.entry_id == entry_id).order_by(Posting.id))
    out = []
    for p in rows:
        if p.wallet_id is not None:
            out.append(("wallet", db.session.get(Wallet, p.wallet_id).user_id, p.amount))
        else:
            out.append(("platform", db.session.get(PlatformAccount, p.platform_account_id).code, p.amount))
    return out


def _notes(user) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification).where(Notification.user_id == user.id, Notification.kind == "copy_profit_share")
        )
    )


def test_a_share_paid_from_the_hold_posts_trader_and_platform_parts(app, lead, follower, monkeypatch):
    monkeypatch.setitem(app.config, "COPY_PLATFORM_FEE_PCT", "20")
    sub = follow(follower, lead, copy_percentage="50")  # 5000 held
    sub = _with(sub.id, realized_profit=D("123.45"))
    lead_before, fees_before = balances(lead, "USD")[0], _fees()

    settlement = profit_share.settle_subscription(sub.id, PERIOD)

    # 10 % of 123.45 = 12.345 → 12.34; the platform's 20 % of it = 2.468 → 2.46; the trader 9.88
    assert (settlement.profit, settlement.percentage, settlement.amount) == (D("123.45"), D("10"), D("12.34"))
    assert (settlement.trader_amount, settlement.platform_fee) == (D("9.88"), D("2.46"))
    assert (settlement.high_water_mark_before, settlement.high_water_mark_after) == (D("0"), D("123.45"))
    assert (settlement.period, settlement.currency, settlement.trader_id) == (PERIOD, "USD", trader_row(lead).id)
    entry = db.session.get(JournalEntry, settlement.entry_id)
    assert (entry.kind, entry.reference) == ("profit_share", f"copy:{sub.id}")
    assert entry.memo == f"Profit share to Lead Capital (subscription {sub.id}, {PERIOD})"
    assert sorted(_postings(entry.id), key=str) == sorted(
        [("wallet", follower.id, D("-12.34")), ("wallet", lead.id, D("9.88")), ("platform", "fees", D("2.46"))],
        key=str,
    )
    assert balances(lead, "USD")[0] == lead_before + D("9.88")
    assert _fees() == fees_before + D("2.46")
    assert balances(follower, "USD") == (D("10000") - D("12.34"), D("5000") - D("12.34"))
    after = db.session.get(CopySubscription, sub.id)
    assert (after.high_water_mark, after.profit_share_paid, after.cash) == (D("123.45"), D("12.34"), D("4987.66"))
    body = "12.34 USD (10 % of 123.45 profit above the high-water mark)."
    [to_follower], [to_trader] = _notes(follower), _notes(lead)
    assert (to_follower.title, to_follower.body, to_follower.link) == (
        "Profit share paid to Lead Capital",
        body,
        "/copy/mine",
    )
    assert to_follower.dedupe_key == f"profit-share:{settlement.id}:follower"
    assert (to_trader.title, to_trader.body, to_trader.link) == ("Profit share received", body, "/copy/")
    assert to_trader.dedupe_key == f"profit-share:{settlement.id}:trader"
    assert ledger.check().ok


def test_without_a_platform_cut_the_trader_gets_it_all_in_two_postings(lead, follower):
    sub = follow(follower, lead, copy_percentage="50")
    sub = _with(sub.id, realized_profit=D("100"))
    fees_before = _fees()
    settlement = profit_share.settle_subscription(sub.id, PERIOD)
    assert (settlement.amount, settlement.trader_amount, settlement.platform_fee) == (D("10"), D("10"), D("0"))
    assert sorted(_postings(settlement.entry_id), key=str) == sorted(
        [("wallet", follower.id, D("-10")), ("wallet", lead.id, D("10"))], key=str
    )
    assert _fees() == fees_before
    assert ledger.check().ok


def test_all_to_the_platform_posts_no_trader_leg(app, lead, follower, monkeypatch):
    monkeypatch.setitem(app.config, "COPY_PLATFORM_FEE_PCT", "100")
    sub = follow(follower, lead, copy_percentage="50")
    sub = _with(sub.id, realized_profit=D("100"))
    settlement = profit_share.settle_subscription(sub.id, PERIOD)
    assert (settlement.trader_amount, settlement.platform_fee) == (D("0"), D("10"))
    assert sorted(_postings(settlement.entry_id), key=str) == sorted(
        [("wallet", follower.id, D("-10")), ("platform", "fees", D("10"))], key=str
    )
    assert ledger.check().ok


def test_a_short_hold_is_released_and_the_rest_taken_from_the_free_balance(lead, follower):
    sub = follow(follower, lead, copy_percentage="50")
    _shrink_hold(sub, "4")  # 4 USD left in the allocation, 9996 free
    sub = _with(sub.id, realized_profit=D("100"))
    settlement = profit_share.settle_subscription(sub.id, PERIOD)
    assert settlement.amount == D("10")
    entry = db.session.get(JournalEntry, settlement.entry_id)
    assert (entry.kind, entry.memo, entry.reference) == (
        "profit_share",
        f"Profit share to Lead Capital (subscription {sub.id}, {PERIOD})",
        f"copy:{sub.id}",
    )
    assert sorted(_postings(settlement.entry_id), key=str) == sorted(
        [("wallet", follower.id, D("-10")), ("wallet", lead.id, D("10"))], key=str
    )
    assert balances(follower, "USD") == (D("9990"), D("0"))
    after = db.session.get(CopySubscription, sub.id)
    assert (after.cash, after.high_water_mark, after.profit_share_paid) == (D("0"), D("100"), D("10"))
    assert ledger.check().ok


def test_what_cannot_be_paid_stays_above_the_mark(lead, follower, create_user):
    sub = follow(follower, lead, copy_percentage="100")  # everything held: 10000
    _shrink_hold(sub, "3")  # 3 held, 9997 free …
    wallet = ledger.wallet_for(follower, "USD")
    ledger.post(
        "adjustment",
        [ledger.Leg(wallet, D("-9996")), ledger.Leg(ledger.platform_account("adjustments", "USD"), D("9996"))],
    )
    db.session.commit()  # … of which 9996 taken away: 4 payable in all
    sub = _with(sub.id, realized_profit=D("200"), high_water_mark=D("100"))
    settlement = profit_share.settle_subscription(sub.id, PERIOD)
    # due 10 % of 100 = 10; payable 4: 4/10 of the profit is settled, the mark moves 40 up, not 100
    assert (settlement.profit, settlement.amount) == (D("100"), D("4"))
    assert (settlement.high_water_mark_before, settlement.high_water_mark_after) == (D("100"), D("140"))
    after = db.session.get(CopySubscription, sub.id)
    assert (after.high_water_mark, after.profit_share_paid, after.cash) == (D("140"), D("4"), D("0"))
    assert balances(follower, "USD") == (D("0"), D("0"))
    # the next day, funded again, the remaining 60 above the mark is settled: 6
    fund(follower, "USD", "100")
    settlement = profit_share.settle_subscription(sub.id, "2026-11-02")
    assert (settlement.profit, settlement.amount, settlement.high_water_mark_after) == (D("60"), D("6"), D("200"))
    assert ledger.check().ok


def test_nothing_payable_records_a_zero_settlement_without_entry_or_notification(lead, follower):
    sub = follow(follower, lead, copy_percentage="100")
    _shrink_hold(sub, "0")
    wallet = ledger.wallet_for(follower, "USD")
    ledger.post(
        "adjustment",
        [ledger.Leg(wallet, D("-10000")), ledger.Leg(ledger.platform_account("adjustments", "USD"), D("10000"))],
    )
    db.session.commit()
    sub = _with(sub.id, realized_profit=D("50"), high_water_mark=D("10"))
    settlement = profit_share.settle_subscription(sub.id, PERIOD)
    assert (settlement.amount, settlement.trader_amount, settlement.platform_fee) == (D("0"), D("0"), D("0"))
    assert settlement.entry_id is None
    assert (settlement.high_water_mark_before, settlement.high_water_mark_after) == (D("10"), D("10"))
    assert db.session.get(CopySubscription, sub.id).high_water_mark == D("10")
    assert _notes(follower) == [] and _notes(lead) == []


def test_one_settlement_per_period_and_none_at_or_below_the_mark(lead, follower):
    sub = follow(follower, lead, copy_percentage="50")
    sub = _with(sub.id, realized_profit=D("100"), high_water_mark=D("100"))
    assert profit_share.settle_subscription(sub.id, PERIOD) is None
    sub = _with(sub.id, realized_profit=D("100.01"))
    first = profit_share.settle_subscription(sub.id, PERIOD)
    assert (first.profit, first.amount) == (D("0.01"), D("0.00"))  # 10 % of a cent rounds to nothing
    sub = _with(sub.id, realized_profit=D("300"))
    assert profit_share.settle_subscription(sub.id, PERIOD) is None  # already settled this period
    assert profit_share.settle_subscription(sub.id, "2026-11-02").amount == D("19.99")


def test_an_ended_or_missing_subscription_settles_nothing(lead, follower):
    sub = follow(follower, lead, copy_percentage="50")
    sub = _with(sub.id, realized_profit=D("100"), status="paused")
    assert profit_share.settle_subscription(sub.id, PERIOD) is not None  # paused is still open
    sub = _with(sub.id, realized_profit=D("200"), status="ended")
    assert profit_share.settle_subscription(sub.id, "2026-11-02") is None
    assert profit_share.settle_subscription(10**9, PERIOD) is None


def test_the_daily_job_pays_each_open_subscription_and_survives_one_failing(lead, follower, create_user, monkeypatch):
    other = create_user(email="g@example.com", username="other", kyc_status="approved")
    fund(other, "USD", "1000")
    first = follow(follower, lead, copy_percentage="50")
    second = follow(other, lead, copy_percentage="50")
    third_user = create_user(email="h@example.com", username="third", kyc_status="approved")
    fund(third_user, "USD", "1000")
    third = follow(third_user, lead)
    _with(first.id, realized_profit=D("100"))
    _with(second.id, realized_profit=D("50"))
    _with(third.id, realized_profit=D("0"))  # nothing above the mark: not even tried
    real = profit_share.settle
    tried = []

    def failing_first(sub, period):
        tried.append(sub.id)
        if sub.id == first.id:
            raise RuntimeError("boom")
        return real(sub, period)

    monkeypatch.setattr(profit_share, "settle", failing_first)
    assert profit_share.settle_all(date(2026, 11, 1)) == 1
    assert tried == [first.id, second.id]
    settled = db.session.scalars(select(ProfitShareSettlement)).all()
    assert [(s.subscription_id, s.period, s.amount) for s in settled] == [(second.id, "2026-11-01", D("5"))]
    assert db.session.get(CopySubscription, first.id).high_water_mark == D("0")


def test_settlements_query_filters_by_trader_and_subscription(lead, follower):
    sub = follow(follower, lead, copy_percentage="10")
    _with(sub.id, realized_profit=D("100"))
    settlement = profit_share.settle_subscription(sub.id, PERIOD)
    later = profit_share.settle_subscription(_with(sub.id, realized_profit=D("200")).id, "2026-11-02")
    mine = db.session.scalars(profit_share.settlements_query(trader_id=trader_row(lead).id)).all()
    assert [s.id for s in mine] == [later.id, settlement.id]
    assert db.session.scalars(profit_share.settlements_query(subscription_id=sub.id)).all() == [later, settlement]
    assert db.session.scalars(profit_share.settlements_query(subscription_id=sub.id + 1000)).all() == []
    assert db.session.scalars(profit_share.settlements_query(trader_id=trader_row(lead).id + 1000)).all() == []
    assert db.session.scalars(profit_share.settlements_query()).all() == [later, settlement]


def test_two_subscriptions_settle_the_same_period_and_a_share_under_one_unit_is_paid(lead, follower, create_user):
    other = create_user(email="g@example.com", username="other", kyc_status="approved")
    fund(other, "USD", "1000")
    first = follow(follower, lead, copy_percentage="50")
    second = follow(other, lead, copy_percentage="50")
    _with(first.id, realized_profit=D("5"))  # 10 % = 0.50: under one dollar, still paid
    _with(second.id, realized_profit=D("100"))
    assert profit_share.settle_subscription(first.id, PERIOD).amount == D("0.50")
    [note] = _notes(follower)
    assert note.body == "0.50 USD (10 % of 5 profit above the high-water mark)."
    assert profit_share.settle_subscription(second.id, PERIOD).amount == D("10")
    assert balances(follower, "USD")[0] == D("9999.50")
    assert ledger.check().ok


def test_a_subscription_changed_by_another_transaction_is_read_again_under_its_lock(lead, follower):
    from sqlalchemy import update

    sub = follow(follower, lead, copy_percentage="50")
    sub = _with(sub.id, realized_profit=D("100"))  # this session's copy: 100 realised
    # a copy's sale booked 200 more since: the row changes behind the session's back
    db.session.execute(
        update(CopySubscription)
        .where(CopySubscription.id == sub.id)
        .values(realized_profit=D("300"))
        .execution_options(synchronize_session=False)
    )
    settlement = profit_share.settle_subscription(sub.id, PERIOD)
    assert (settlement.profit, settlement.amount, settlement.high_water_mark_after) == (D("300"), D("30"), D("300"))
    assert balances(follower, "USD")[0] == D("9970")
    assert ledger.check().ok


def test_the_daily_job_counts_every_subscription_it_paid_and_a_rerun_pays_none(lead, follower, create_user):
    other = create_user(email="g@example.com", username="other", kyc_status="approved")
    fund(other, "USD", "1000")
    first = follow(follower, lead, copy_percentage="50")
    second = follow(other, lead, copy_percentage="50")
    _with(first.id, realized_profit=D("100"))
    _with(second.id, realized_profit=D("50"))
    assert profit_share.settle_all(date(2026, 11, 1)) == 2
    assert profit_share.settle_all(date(2026, 11, 1)) == 0  # both at their mark now
    settled = db.session.scalars(select(ProfitShareSettlement).order_by(ProfitShareSettlement.id)).all()
    assert [(s.subscription_id, s.amount) for s in settled] == [(first.id, D("10")), (second.id, D("5"))]
    assert ledger.check().ok


def test_less_than_one_unit_left_in_the_allocation_is_released_before_paying_from_the_wallet(lead, follower):
    sub = follow(follower, lead, copy_percentage="50")
    _shrink_hold(sub, "0.5")  # half a dollar left in the allocation
    sub = _with(sub.id, realized_profit=D("100"))
    settlement = profit_share.settle_subscription(sub.id, PERIOD)
    assert settlement.amount == D("10")
    # the 0.50 held is given back and the 10 taken from the free balance: nothing stays held
    assert balances(follower, "USD") == (D("9990"), D("0"))
    assert db.session.get(CopySubscription, sub.id).cash == D("0")
    assert ledger.check().ok


def test_settlements_list_newest_first_by_time_then_by_id(lead, follower):
    from datetime import UTC, datetime

    sub = follow(follower, lead, copy_percentage="10")
    first = profit_share.settle_subscription(_with(sub.id, realized_profit=D("100")).id, PERIOD)
    second = profit_share.settle_subscription(_with(sub.id, realized_profit=D("200")).id, "2026-11-02")
    third = profit_share.settle_subscription(_with(sub.id, realized_profit=D("300")).id, "2026-11-03")
    ids = [first.id, second.id, third.id]
    # the time decides (the first one recorded last, as a settlement re-booked later would be) …
    at = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
    for settlement_id, created in zip(ids, (at, at.replace(hour=10), at.replace(hour=10)), strict=True):
        db.session.get(ProfitShareSettlement, settlement_id).created_at = created
    db.session.commit()
    listed = db.session.scalars(profit_share.settlements_query(subscription_id=sub.id)).all()
    # … and between two recorded at the same moment, the later id comes first
    assert [s.id for s in listed] == [first.id, third.id, second.id]
