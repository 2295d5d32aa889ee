"""Every reward path: sign-up on KYC, first deposit, trading commission; clearing, payout, caps, clawback."""

from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

import pytest
from croniter import croniter
from sqlalchemy import func, select

from tests.referrals.helpers import after_clearing, approve_kyc, card_deposit, rewards, setup_programme, sign_up
from tests.trading_helpers import fund
from tradeapp.extensions import db
from tradeapp.jobs import referrals as referral_jobs
from tradeapp.models import JournalEntry, PlatformAccount, Posting, Referral, ReferralAccrual, Trade, Transaction
from tradeapp.models.types import utcnow
from tradeapp.services import deposits, ledger, referrals
from tradeapp.services.referrals import rewards as reward_service
from tradeapp.services.trading import orders

D = Decimal


@pytest.fixture()
def referrer(db, create_user):
    setup_programme()
    return create_user(email="alice@example.com", username="alice")


def balance(user, currency="USD"):
    db.session.expire_all()
    return ledger.wallet_for(user, currency).balance


# -- sign-up ---------------------------------------------------------------------------------------------


def test_signup_reward_is_created_once_on_kyc_approval_and_pending_for_the_clearing_period(referrer):
    friend = sign_up(referrer)
    assert rewards(referrer) == []  # joining alone earns nothing
    approve_kyc(friend)
    (reward,) = rewards(referrer)
    assert (reward.reward_type, reward.amount, reward.currency, reward.status) == ("signup", D("10"), "USD", "pending")
    assert reward.clears_at - reward.created_at == timedelta(days=14)
    assert referrals.on_kyc_approved(friend.id) is None  # a second approval (after expiry) earns nothing more
    assert len(rewards(referrer)) == 1
    referral = db.session.scalar(select(Referral).where(Referral.referee_id == friend.id))
    assert referral.qualified_at is not None and referrals.qualified_count(referrer.id) == 1


def test_tier_follows_qualified_referrals_and_adds_its_bonus(referrer):
    first, second = sign_up(referrer), sign_up(referrer)
    approve_kyc(first, "DOC-1")
    assert referrals.tier_for(referrals.qualified_count(referrer.id)).name == "Bronze"
    approve_kyc(second, "DOC-2")  # the second qualified referral reaches Silver (+5)
    assert referrals.tier_for(referrals.qualified_count(referrer.id)).name == "Silver"
    assert [r.amount for r in rewards(referrer)] == [D("10"), D("15")]
    sign_up(referrer)  # signed up, not verified: does not count
    assert referrals.qualified_count(referrer.id) == 2


# -- payout ----------------------------------------------------------------------------------------------


def test_payout_waits_for_clearing_then_pays_once_through_the_ledger(referrer):
    approve_kyc(sign_up(referrer))
    assert referrals.pay_due_rewards() == 0  # still clearing
    assert balance(referrer) == 0
    assert referrals.pay_due_rewards(now=after_clearing()) == 1
    (reward,) = rewards(referrer)
    assert reward.status == "paid" and reward.entry_id and reward.transaction_id
    assert balance(referrer) == D("10")
    txn = db.session.get(Transaction, reward.transaction_id)
    assert (txn.transaction_type, txn.amount, txn.entry_id) == ("referral_bonus", D("10"), reward.entry_id)
    entry = db.session.get(JournalEntry, reward.entry_id)
    accounts = {
        (db.session.get(PlatformAccount, p.platform_account_id).code if p.platform_account_id else "wallet", p.amount)
        for p in entry.postings
    }
    assert accounts == {("referral_bonus", D("-10")), ("wallet", D("10"))}
    assert referrals.pay_due_rewards(now=after_clearing()) == 0  # a re-run pays nothing
    assert referrals.pay_reward(reward.id, now=after_clearing()) is False
    assert balance(referrer) == D("10")
    assert ledger.check().ok


def test_the_jobs_sum_and_pay_through_the_services(db, create_user):
    setup_programme(clearing_days=0)
    referrer = create_user()
    approve_kyc(sign_up(referrer))
    assert referral_jobs.sum_referral_commissions() == 0  # no accruals
    assert referral_jobs.pay_referral_rewards() == 1
    assert referral_jobs.pay_referral_rewards() == 0
    assert balance(referrer) == D("10")


@pytest.mark.parametrize(
    ("cron", "gap", "per_day"),
    [
        (referral_jobs.PAY_REWARDS_CRON, timedelta(hours=6), 4),
        (referral_jobs.SUM_COMMISSIONS_CRON, timedelta(days=1), 1),
    ],
)
def test_schedules_mean_what_they_say(cron, gap, per_day):
    """The seed's ``crontab(hour='*/6')`` fired every minute of four hours; ours fires once per slot."""
    from datetime import datetime

    start = datetime(2026, 3, 1, 0, 0)
    it = croniter(cron, start)
    times = [it.get_next(datetime) for _ in range(per_day * 3)]
    assert all(b - a == gap for a, b in zip(times, times[1:], strict=False))
    assert sum(1 for t in times if t.date() == times[0].date()) == per_day


def test_schedule_registers_both_referral_jobs():
    from tradeapp.jobs.schedule import SCHEDULE

    crons = {entry["func"].__name__: entry["cron"] for entry in SCHEDULE if "cron" in entry}
    assert crons["pay_referral_rewards"] == "15 */6 * * *"
    assert crons["sum_referral_commissions"] == "5 0 * * *"


# -- first deposit ---------------------------------------------------------------------------------------


def test_first_deposit_reaching_the_minimum_earns_once(referrer):
    friend = sign_up(referrer)
    card_deposit(friend, "50.00")  # below the 100 USD minimum
    assert rewards(referrer, "first_deposit") == []
    deposit = card_deposit(friend, "150.00")
    (reward,) = rewards(referrer, "first_deposit")
    assert (reward.amount, reward.deposit_id, reward.status) == (D("20"), deposit.id, "pending")
    card_deposit(friend, "500.00")
    assert len(rewards(referrer, "first_deposit")) == 1


def test_refund_within_clearing_cancels_the_unpaid_reward(referrer):
    friend = sign_up(referrer)
    deposit = card_deposit(friend, "150.00")
    deposits.refund_card_deposit("sandbox", deposit.provider_ref, 15000, True)
    (reward,) = rewards(referrer, "first_deposit")
    assert reward.status == "cancelled" and "refunded" in reward.reason
    assert referrals.pay_due_rewards(now=after_clearing()) == 0
    assert balance(referrer) == 0


def test_chargeback_within_clearing_cancels_the_unpaid_reward(referrer):
    friend = sign_up(referrer)
    deposit = card_deposit(friend, "150.00")
    deposits.dispute_card_deposit("sandbox", deposit.provider_ref, "dp_1")
    deposits.dispute_card_deposit("sandbox", deposit.provider_ref, "dp_1")  # replayed webhook
    (reward,) = rewards(referrer, "first_deposit")
    assert reward.status == "cancelled" and "charged back" in reward.reason


def test_refund_after_payment_claws_back_through_the_ledger(referrer):
    friend = sign_up(referrer)
    deposit = card_deposit(friend, "150.00")
    referrals.pay_due_rewards(now=after_clearing())
    assert balance(referrer) == D("20")
    deposits.refund_card_deposit("sandbox", deposit.provider_ref, 15000, True)
    (reward,) = rewards(referrer, "first_deposit")
    assert reward.status == "clawed_back" and reward.clawback_outstanding == 0
    assert balance(referrer) == 0
    entry = db.session.get(JournalEntry, reward.clawback_entry_id)
    assert entry.kind == "referral_clawback"
    assert ledger.check().ok


def test_clawback_of_spent_money_records_a_debt_kept_from_the_next_reward(referrer, create_user):
    friend = sign_up(referrer)
    deposit = card_deposit(friend, "150.00")
    referrals.pay_due_rewards(now=after_clearing())
    # the referrer spends 15 of the 20 (a transfer out, as an adjustment)
    wallet = ledger.wallet_for(referrer, "USD")
    ledger.post(
        "adjustment", [ledger.Leg(wallet, D("-15")), ledger.Leg(ledger.platform_account("adjustments", "USD"), D("15"))]
    )
    db.session.commit()
    deposits.refund_card_deposit("sandbox", deposit.provider_ref, 15000, True)
    (reward,) = rewards(referrer, "first_deposit")
    assert reward.status == "clawed_back" and reward.clawback_outstanding == D("15")
    assert balance(referrer) == 0  # took the 5 available, never below zero
    approve_kyc(sign_up(referrer), "DOC-9")  # a new sign-up reward of 10
    referrals.pay_due_rewards(now=after_clearing(30))
    signup = rewards(referrer, "signup")[0]
    assert signup.status == "paid" and signup.offset_amount == D("10") and signup.transaction_id is None
    assert balance(referrer) == 0
    assert rewards(referrer, "first_deposit")[0].clawback_outstanding == D("5")
    assert ledger.check().ok


# -- caps ------------------------------------------------------------------------------------------------


def test_monthly_cap_cuts_and_then_cancels_rewards(db, create_user):
    setup_programme(cap="25")
    referrer = create_user()
    first, second, third = sign_up(referrer), sign_up(referrer), sign_up(referrer, ip="10.9.9.9")
    approve_kyc(first, "A-1")  # 10
    approve_kyc(second, "A-2")  # 15 (Silver): 25 reached
    approve_kyc(third, "A-3")  # nothing left this month
    amounts = [(r.amount, r.gross_amount, r.status) for r in rewards(referrer)]
    assert amounts == [(D("10"), D("10"), "pending"), (D("15"), D("15"), "pending"), (D("0"), D("15"), "cancelled")]
    card_deposit(first)
    (fd,) = rewards(referrer, "first_deposit")
    assert fd.status == "cancelled" and fd.reason == "Monthly cap reached."


def test_cap_reduces_a_reward_to_what_is_left(db, create_user):
    setup_programme(cap="12")
    referrer = create_user()
    friend = sign_up(referrer)
    approve_kyc(friend)  # 10
    card_deposit(friend)  # 20 earned, 2 left
    fd = rewards(referrer, "first_deposit")[0]
    assert (fd.amount, fd.gross_amount, fd.status) == (D("2"), D("20"), "pending")
    assert "monthly cap" in fd.reason


# -- trading commission ------------------------------------------------------------------------------------


def test_commission_for_1000_fills_equals_the_tier_percentage_of_the_fees_to_the_cent(referrer, pairs, market):
    friend = sign_up(referrer)
    approve_kyc(friend)  # Bronze: 10 %
    fund(friend, "USD", "200000")
    # 50 market buys, each walking 20 levels of 0.001 BTC: 1,000 fills, each fee rounded on its own
    total_fee = D(0)
    for i in range(50):
        market.set("BTC/USD", "50000", f"{50000 + i * 7}.37", levels=20, size="0.001", step="0.03")
        order = orders.place_order(
            friend, {"symbol": "BTC-USD", "side": "buy", "order_type": "market", "quantity": "0.02"}
        )
        assert order.status == "filled"
        total_fee += order.fee
    assert db.session.scalar(select(func.count()).select_from(Trade).where(Trade.user_id == friend.id)) == 1000
    assert db.session.scalar(select(func.count()).select_from(ReferralAccrual)) == 1000
    # summed in Python: SQLite's SUM would go through floats
    fees = sum(
        db.session.scalars(
            select(Posting.amount)
            .join(PlatformAccount, PlatformAccount.id == Posting.platform_account_id)
            .join(Trade, Trade.entry_id == Posting.entry_id)
            .where(PlatformAccount.code == "fees", Trade.user_id == friend.id)
        ),
        D(0),
    )
    assert D(fees) == total_fee
    # each accrual carries exactly the amount its fill posted to ``fees``
    pairs_ = db.session.execute(
        select(ReferralAccrual.fee, Posting.amount)
        .join(Posting, Posting.entry_id == ReferralAccrual.entry_id)
        .join(PlatformAccount, PlatformAccount.id == Posting.platform_account_id)
        .where(PlatformAccount.code == "fees")
    ).all()
    assert len(pairs_) == 1000 and all(a == b for a, b in pairs_)
    assert referrals.sum_commissions(today=utcnow().date()) == 0  # today's fills wait for the day to end
    assert referrals.sum_commissions(today=utcnow().date() + timedelta(days=1)) == 1
    assert referrals.sum_commissions(today=utcnow().date() + timedelta(days=1)) == 0  # each accrual counted once
    (reward,) = rewards(referrer, "trading_commission")
    assert reward.amount == (D(fees) * 10 / 100).quantize(D("0.01"), ROUND_DOWN)
    assert reward.currency == "USD" and reward.status == "pending"
    referrals.pay_due_rewards(now=after_clearing())
    assert rewards(referrer, "trading_commission")[0].status == "paid"
    assert ledger.check().ok


def test_no_commission_for_users_nobody_referred(referrer, pairs, market, create_user):
    loner = create_user()
    fund(loner, "USD", "100000")
    market.set("BTC/USD", "50000", "50010", levels=3, size="0.5", step="10")
    orders.place_order(loner, {"symbol": "BTC-USD", "side": "buy", "order_type": "market", "quantity": "0.2"})
    assert db.session.scalar(select(func.count()).select_from(ReferralAccrual)) == 0


def test_a_bank_transfer_first_deposit_earns_too(referrer, create_staff):
    friend = sign_up(referrer)
    deposit = deposits.create_bank_deposit(friend, "USD", "250.00")
    deposits.confirm_deposit(create_staff("finance"), deposit)
    (reward,) = rewards(referrer, "first_deposit")
    assert reward.deposit_id == deposit.id and reward.amount == D("20")


def test_clawed_back_rewards_free_room_under_the_cap(db, create_user):
    setup_programme(cap="20")
    referrer = create_user()
    friend = sign_up(referrer)
    deposit = card_deposit(friend)  # 20: the cap is used up
    referrals.pay_due_rewards(now=after_clearing())
    deposits.refund_card_deposit("sandbox", deposit.provider_ref, 15000, True)  # clawed back
    approve_kyc(friend)
    (signup,) = rewards(referrer, "signup")
    assert (signup.amount, signup.status) == (D("10"), "pending")


def test_commission_under_one_cent_is_carried_to_the_next_day(referrer):
    friend = sign_up(referrer)
    referral = db.session.scalar(select(Referral).where(Referral.referee_id == friend.id))
    day = utcnow().date() - timedelta(days=2)
    entry = ledger.post(
        "adjustment",
        [
            ledger.Leg(ledger.wallet_for(friend, "USD"), D("1")),
            ledger.Leg(ledger.platform_account("adjustments", "USD"), D("-1")),
        ],
    )
    db.session.add(
        ReferralAccrual(
            referrer_id=referrer.id,
            referee_id=friend.id,
            entry_id=entry.id,
            currency="USD",
            fee=D("0.04"),
            percentage=D("10"),
            amount=D("0.004"),
            accrued_on=day,
        )
    )
    db.session.commit()
    assert referrals.sum_commissions() == 0  # 0.004 USD: nothing to pay yet, kept open
    entry2 = ledger.post(
        "adjustment",
        [
            ledger.Leg(ledger.wallet_for(friend, "USD"), D("1")),
            ledger.Leg(ledger.platform_account("adjustments", "USD"), D("-1")),
        ],
    )
    db.session.add(
        ReferralAccrual(
            referrer_id=referrer.id,
            referee_id=friend.id,
            entry_id=entry2.id,
            currency="USD",
            fee=D("0.07"),
            percentage=D("10"),
            amount=D("0.007"),
            accrued_on=day + timedelta(days=1),
        )
    )
    db.session.commit()
    assert referrals.sum_commissions() == 1
    (reward,) = rewards(referrer, "trading_commission")
    assert reward.amount == D("0.01") and referral.referee_id == reward.referee_id
    open_ = db.session.scalar(
        select(func.count()).select_from(ReferralAccrual).where(ReferralAccrual.reward_id.is_(None))
    )
    assert open_ == 0


# -- exact payouts, clawbacks, cap messages and reviews (mutation testing found these unpinned) ----------


def _notes(user, kind):
    from tradeapp.models import Notification

    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id, Notification.kind == kind)
            .order_by(Notification.id)
        )
    )


def _legs(entry_id):
    out = []
    for p in db.session.scalars(select(Posting).where(Posting.entry_id == entry_id)):
        who = db.session.get(PlatformAccount, p.platform_account_id).code if p.platform_account_id else "wallet"
        out.append((who, p.amount))
    return sorted(out)


def test_a_new_reward_tells_the_referrer_what_and_when(referrer):
    friend = sign_up(referrer)
    approve_kyc(friend)
    (reward,) = rewards(referrer)
    assert (reward.key, reward.gross_amount, reward.reason, reward.offset_amount, reward.deposit_id) == (
        f"signup:{friend.id}",
        D("10"),
        "",
        D("0"),
        None,
    )
    assert reward.closed_at is None and reward.referee_id == friend.id
    (note,) = _notes(referrer, "referral_reward_earned")
    assert note.title == f"You earned 10.00 USD: sign-up bonus from {friend.username}"
    assert (note.body, note.link, note.dedupe_key) == (
        "It is paid once the clearing period is over.",
        "/referrals/",
        f"referral_earned:{reward.id}",
    )


def test_the_cap_messages_name_the_cap(db, create_user):
    setup_programme(cap="12")
    referrer = create_user()
    friend = sign_up(referrer)
    approve_kyc(friend)  # 10
    card_deposit(friend)  # 20 earned, 2 left
    fd = rewards(referrer, "first_deposit")[0]
    assert fd.reason == "Reduced to the monthly cap of 12.00 USD."
    assert fd.deposit_id is not None
    first_deposit_note = _notes(referrer, "referral_reward_earned")[-1]
    assert first_deposit_note.title == f"You earned 2.00 USD: first-deposit bonus from {friend.username}"
    other = sign_up(referrer)
    approve_kyc(other, "DOC-7")  # nothing left
    cancelled = rewards(referrer, "signup")[-1]
    assert (cancelled.amount, cancelled.status, cancelled.reason) == (D("0"), "cancelled", "Monthly cap reached.")
    assert cancelled.closed_at == cancelled.created_at
    note = _notes(referrer, "referral_reward_earned")[-1]
    assert note.title == f"Sign-up bonus from {other.username} not paid: monthly cap reached"
    assert note.body == "Monthly cap reached."


def test_a_reward_exactly_filling_the_cap_is_paid_in_full(db, create_user):
    setup_programme(cap="30")
    referrer = create_user()
    friend = sign_up(referrer)
    approve_kyc(friend)  # 10
    card_deposit(friend)  # 20: exactly the 20 left
    fd = rewards(referrer, "first_deposit")[0]
    assert (fd.amount, fd.status, fd.reason) == (D("20"), "pending", "")


def test_no_cap_when_the_cap_is_zero(db, create_user):
    setup_programme(cap="0")
    referrer = create_user()
    friend = sign_up(referrer)
    approve_kyc(friend)
    card_deposit(friend)
    assert [(r.amount, r.status) for r in rewards(referrer)] == [(D("10"), "pending"), (D("20"), "pending")]


def test_create_reward_refuses_nothing_and_disqualified_referrals(referrer):
    friend = sign_up(referrer)
    referral = db.session.scalar(select(Referral).where(Referral.referee_id == friend.id))
    assert referrals.create_reward(referral, "signup", D("0"), "USD", "k-zero") is None
    referral.status = "disqualified"
    assert referrals.create_reward(referral, "signup", D("5"), "USD", "k-dq") is None
    referral.status = "active"
    made = referrals.create_reward(referral, "signup", D("5"), "USD", "k-ok")
    assert made.amount == D("5")
    assert referrals.create_reward(referral, "signup", D("5"), "USD", "k-ok") is None  # the key exists
    db.session.commit()


def test_payout_lines_name_the_reward_and_notify(referrer):
    friend = sign_up(referrer)
    approve_kyc(friend)
    now = after_clearing()
    assert referrals.pay_due_rewards(now=now) == 1
    (reward,) = rewards(referrer)
    assert reward.paid_at == now and reward.offset_amount == 0
    memo = f"Referral sign-up bonus from {friend.username} (reward {reward.id})"
    entry = db.session.get(JournalEntry, reward.entry_id)
    assert (entry.kind, entry.memo, entry.reference) == ("referral_reward", memo, f"referral_reward:{reward.id}")
    txn = db.session.get(Transaction, reward.transaction_id)
    assert (txn.user_id, txn.currency, txn.status, txn.direction, txn.notes) == (
        referrer.id,
        "USD",
        "completed",
        1,
        memo,
    )
    assert (txn.reference_id, txn.completed_at) == (f"REF-{reward.id}", now)
    (note,) = _notes(referrer, "referral_reward_paid")
    assert (note.title, note.body, note.link, note.dedupe_key) == (
        "Referral reward paid: 10.00 USD",
        memo,
        "/referrals/",
        f"referral_paid:{reward.id}",
    )


def test_payout_clears_exactly_at_clears_at_and_respects_the_limit(referrer):
    approve_kyc(sign_up(referrer), "L-1")
    approve_kyc(sign_up(referrer), "L-2")
    first, second = rewards(referrer)
    assert reward_service.due_reward_ids(now=first.clears_at - timedelta(microseconds=1)) == []
    assert reward_service.due_reward_ids(now=second.clears_at) == [first.id, second.id]
    assert reward_service.due_reward_ids(now=second.clears_at, limit=1) == [first.id]
    assert referrals.pay_reward(first.id, now=first.clears_at - timedelta(seconds=1)) is False
    assert referrals.pay_reward(first.id, now=first.clears_at) is True
    assert referrals.pay_due_rewards(now=second.clears_at, limit=1) == 1
    assert [r.status for r in rewards(referrer)] == ["paid", "paid"]
    assert referrals.pay_reward(10**9, now=second.clears_at) is False


def test_a_debt_is_paid_down_first_and_the_rest_paid_out(referrer):
    friend = sign_up(referrer)
    deposit = card_deposit(friend, "150.00")
    referrals.pay_due_rewards(now=after_clearing())  # 20 paid
    wallet = ledger.wallet_for(referrer, "USD")
    ledger.post(
        "adjustment", [ledger.Leg(wallet, D("-16")), ledger.Leg(ledger.platform_account("adjustments", "USD"), D("16"))]
    )
    db.session.commit()
    deposits.refund_card_deposit("sandbox", deposit.provider_ref, 15000, True)  # 4 taken, 16 owed
    (clawed,) = rewards(referrer, "first_deposit")
    assert clawed.clawback_outstanding == D("16")
    assert _legs(clawed.clawback_entry_id) == [("referral_bonus", D("4")), ("wallet", D("-4"))]
    clawback_entry = db.session.get(JournalEntry, clawed.clawback_entry_id)
    assert clawback_entry.memo.startswith(f"Clawback of referral reward {clawed.id}: ")
    assert clawback_entry.reference == f"referral_reward:{clawed.id}"
    txn = db.session.scalar(select(Transaction).where(Transaction.entry_id == clawed.clawback_entry_id))
    assert (txn.amount, txn.direction, txn.transaction_type, txn.status) == (D("4"), -1, "referral_bonus", "completed")
    assert (
        txn.reference_id.startswith(f"REF-CB-{clawed.id}-") and len(txn.reference_id) == len(f"REF-CB-{clawed.id}-") + 6
    )
    (lost,) = _notes(referrer, "referral_reward_cancelled")
    assert lost.title == "Referral reward clawed back: 20.00 USD"
    # two sign-up rewards of 10 and 15 (Silver): the first pays 10 of the debt, the second 6, then 9 paid out
    approve_kyc(sign_up(referrer), "D-1")
    approve_kyc(sign_up(referrer), "D-2")
    referrals.pay_due_rewards(now=after_clearing(30))
    first, second = rewards(referrer, "signup")
    assert (first.offset_amount, first.entry_id) == (D("10"), None)
    assert (second.offset_amount, second.amount) == (D("6"), D("15"))
    assert _legs(second.entry_id) == [("referral_bonus", D("-9")), ("wallet", D("9"))]
    assert db.session.get(Transaction, second.transaction_id).amount == D("9")
    assert balance(referrer) == D("9")
    assert rewards(referrer, "first_deposit")[0].clawback_outstanding == 0
    paid_notes = _notes(referrer, "referral_reward_paid")
    assert [(n.title, n.body) for n in paid_notes[-2:]] == [
        ("Referral reward paid: 0.00 USD", "Kept 10.00 USD against an earlier clawback."),
        ("Referral reward paid: 9.00 USD", "Kept 6.00 USD against an earlier clawback."),
    ]
    assert ledger.check().ok


def test_cancelling_an_unpaid_reward_says_so(referrer):
    friend = sign_up(referrer)
    approve_kyc(friend)
    (reward,) = rewards(referrer)
    taken = reward_service.take_back(reward.id, "Found a duplicate account.")
    assert (taken.status, taken.reason) == ("cancelled", "Found a duplicate account.") and taken.closed_at is not None
    (note,) = _notes(referrer, "referral_reward_cancelled")
    assert (note.title, note.body, note.dedupe_key) == (
        "Referral reward cancelled: 10.00 USD",
        "Found a duplicate account.",
        f"referral_lost:{reward.id}",
    )
    assert reward_service.take_back(reward.id, "again").status == "cancelled"  # already closed: nothing more
    assert len(_notes(referrer, "referral_reward_cancelled")) == 1
    from tradeapp.errors import NotFound

    with pytest.raises(NotFound, match="^No such reward.$"):
        reward_service.take_back(10**9, "x")


def _held_reward(referrer, ip):
    crowd = [sign_up(referrer, ip=ip) for _ in range(3)]
    approve_kyc(crowd[0], f"H-{ip}")
    (held,) = rewards(referrer)
    assert held.status == "held"
    return held, crowd[0]


def test_review_refusals_and_the_exact_reasons(referrer, create_staff):
    from tradeapp.errors import IllegalTransition, PermissionDenied, ValidationFailed
    from tradeapp.models import AuditLog

    held, friend = _held_reward(referrer, "203.0.113.20")
    held_reason = held.reason
    staff = create_staff("compliance")
    with pytest.raises(PermissionDenied, match="^You may not review referral rewards.$"):
        referrals.approve_held(create_staff("support"), held.id, "ok")
    with pytest.raises(ValidationFailed, match="^Give a reason.$") as blank:
        referrals.approve_held(staff, held.id, None)
    assert blank.value.fields == {"reason": ["Give a reason: it is kept in the audit log."]}
    with pytest.raises(ValidationFailed, match="^The reason is too long.$") as long_:
        referrals.approve_held(staff, held.id, "x" * 501)
    assert long_.value.fields == {"reason": ["At most 500 characters."]}
    with pytest.raises(NotFound_(), match="^No such reward.$"):
        referrals.approve_held(staff, 10**9, "ok")
    approved = referrals.approve_held(staff, held.id, "  Checked:\n three   flatmates " + "y" * 470)
    reason = "Checked: three flatmates " + "y" * 470
    assert approved.reason == f"Approved by staff: {reason}"
    referral = db.session.scalar(select(Referral).where(Referral.referee_id == friend.id))
    assert (referral.status, referral.reason) == ("active", f"Cleared by staff: {reason}")
    log = db.session.scalar(select(AuditLog).where(AuditLog.action == "referrals.reward_approved"))
    assert log.before == {"status": "held", "reason": held_reason}
    assert log.after == {"status": "pending", "reason": reason}
    with pytest.raises(IllegalTransition, match="^This reward is pending, not held.$"):
        referrals.cancel_held(staff, held.id, "late")


def NotFound_():  # noqa: N802 - the error class, imported late like the others here
    from tradeapp.errors import NotFound

    return NotFound


def test_a_party_to_the_reward_cannot_review_it(referrer, create_staff):
    from tradeapp.errors import PermissionDenied

    held, _friend = _held_reward(referrer, "203.0.113.21")
    staff_referrer = create_staff("compliance")
    reward = db.session.get(type(held), held.id)
    reward.referrer_id = staff_referrer.id
    db.session.commit()
    with pytest.raises(PermissionDenied, match="^You cannot review a reward you are part of.$"):
        referrals.approve_held(staff_referrer, held.id, "mine")


def test_cancel_after_review_is_told_with_the_reason(referrer, create_staff):
    from tradeapp.models import AuditLog

    held, _friend = _held_reward(referrer, "203.0.113.22")
    staff = create_staff("finance")
    cancelled = referrals.cancel_held(staff, held.id, "Same household")
    assert (cancelled.status, cancelled.reason, cancelled.reviewed_by_id) == (
        "cancelled",
        "Cancelled after review: Same household",
        staff.id,
    )
    (note,) = _notes(referrer, "referral_reward_cancelled")
    assert note.body == "Cancelled after review: Same household"
    log = db.session.scalar(select(AuditLog).where(AuditLog.action == "referrals.reward_cancelled"))
    assert log.after == {"status": "cancelled", "reason": "Same household"}
    assert referrals.held_count() == 0
