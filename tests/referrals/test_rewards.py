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
