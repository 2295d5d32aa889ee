"""Subscriptions: exact ledger entries for subscribe and renew, failed renewals charge nothing,
one current subscription per (user, plan), trials, cancel keeps access, expiry, races."""

import os
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.concurrency import race
from tests.signals.conftest import make_plan
from tests.trading_helpers import balances, fund
from tradeapp.errors import IllegalTransition, NotFound, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import JournalEntry, Notification, PlatformAccount, Posting, SignalSubscription, Transaction
from tradeapp.models.types import utcnow
from tradeapp.services import ledger
from tradeapp.services.ledger import InsufficientFunds
from tradeapp.services.signals import subscriptions

D = Decimal
postgres_only = pytest.mark.skipif(os.environ.get("TEST_DATABASE") == "sqlite", reason="row locks need PostgreSQL")


def revenue(currency="USD") -> Decimal:
    account = db.session.scalar(
        select(PlatformAccount).where(PlatformAccount.code == "subscriptions", PlatformAccount.currency == currency)
    )
    return account.balance if account is not None else D(0)


def entry_legs(entry_id: int) -> list[tuple[str, Decimal]]:
    rows = db.session.scalars(select(Posting).where(Posting.entry_id == entry_id).order_by(Posting.id)).all()
    out = []
    for p in rows:
        who = f"wallet:{p.wallet_id}" if p.wallet_id else f"platform:{p.platform_account_id}"
        out.append((who, p.amount))
    return out


def test_subscribe_posts_exactly_one_signal_purchase_entry(customer, plan):
    sub = subscriptions.subscribe(customer, plan.id)
    assert sub.status == "active" and sub.periods == 1 and not sub.is_trial
    assert abs((sub.expires_at - sub.started_at) - timedelta(days=30)) < timedelta(seconds=1)
    assert balances(customer, "USD") == (D("70.00"), 0)
    assert revenue() == D("30.00")
    txn = db.session.scalar(select(Transaction).where(Transaction.transaction_type == "signal_purchase"))
    assert (txn.amount, txn.direction, txn.status, txn.reference_id) == (D("30.00"), -1, "completed", f"SIG-{sub.id}-1")
    entry = db.session.get(JournalEntry, txn.entry_id)
    assert entry.kind == "signal_purchase"
    wallet = ledger.wallet_for(customer, "USD")
    platform = ledger.platform_account("subscriptions", "USD")
    assert entry_legs(entry.id) == [(f"wallet:{wallet.id}", D("-30.00")), (f"platform:{platform.id}", D("30.00"))]
    assert ledger.check().ok
    note = db.session.scalar(select(Notification).where(Notification.user_id == customer.id))
    assert note.kind == "signal_subscription_started"


def test_insufficient_funds_is_a_clear_400_and_charges_nothing(create_user, plan):
    poor = create_user()
    fund(poor, "USD", "29.99")
    with pytest.raises(InsufficientFunds) as exc:
        subscriptions.subscribe(poor, plan.id)
    assert exc.value.status == 400 and "30.00 USD" in exc.value.message
    assert balances(poor, "USD") == (D("29.99"), 0)
    assert db.session.scalar(select(SignalSubscription)) is None
    assert revenue() == 0


def test_one_current_subscription_per_user_and_plan(customer, plan):
    subscriptions.subscribe(customer, plan.id)
    with pytest.raises(ValidationFailed) as exc:
        subscriptions.subscribe(customer, plan.id)
    assert exc.value.code == "already_subscribed"
    assert balances(customer, "USD")[0] == D("70.00")


def test_cancel_keeps_access_until_expiry_and_still_blocks_a_second_subscription(customer, plan):
    sub = subscriptions.subscribe(customer, plan.id)
    cancelled = subscriptions.cancel(customer, sub.id)
    assert cancelled.status == "cancelled" and cancelled.auto_renew is False
    assert subscriptions.has_access(cancelled)
    assert subscriptions.current_plan_ids(customer.id) == [plan.id]
    assert subscriptions.cancel(customer, sub.id).status == "cancelled"  # twice: nothing changes
    with pytest.raises(ValidationFailed):
        subscriptions.subscribe(customer, plan.id)
    # not renewed when due
    assert subscriptions.renew_due(now=sub.expires_at - timedelta(minutes=30))["renewed"] == 0
    # resumed, it renews again
    assert subscriptions.resume(customer, sub.id).status == "active"


def test_expiry_ends_access_keeps_history_and_never_blocks_a_new_subscription(customer, plan):
    sub = subscriptions.subscribe(customer, plan.id)
    subscriptions.cancel(customer, sub.id)
    assert subscriptions.expire_due(now=sub.expires_at + timedelta(seconds=1)) == 1
    db.session.expire_all()
    old = db.session.get(SignalSubscription, sub.id)
    assert old.status == "expired" and old.expired_at is not None
    assert subscriptions.current_plan_ids(customer.id, now=sub.expires_at + timedelta(seconds=2)) == []
    with pytest.raises(IllegalTransition):
        subscriptions.cancel(customer, sub.id)
    with pytest.raises(IllegalTransition):
        subscriptions.resume(customer, sub.id)
    fund(customer, "USD", "30")
    again = subscriptions.subscribe(customer, plan.id)
    assert again.id != sub.id and again.status == "active"
    assert db.session.query(SignalSubscription).count() == 2
    kinds = set(db.session.scalars(select(Notification.kind).where(Notification.user_id == customer.id)))
    assert "signal_subscription_expired" in kinds


def test_a_lapsed_row_the_expiry_job_missed_does_not_block_either(customer, plan):
    sub = subscriptions.subscribe(customer, plan.id)
    db.session.get(SignalSubscription, sub.id).expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    again = subscriptions.subscribe(customer, plan.id)
    assert again.id != sub.id
    assert db.session.get(SignalSubscription, sub.id).status == "expired"


def test_renewal_posts_the_same_exact_entry_and_extends_by_the_plan_duration(customer, plan):
    sub = subscriptions.subscribe(customer, plan.id)
    old_expiry = sub.expires_at
    now = old_expiry - timedelta(minutes=30)
    assert subscriptions.renew_due(now=now) == {"renewed": 1, "failed": 0, "skipped": 0}
    # a second run (or a duplicated job) finds nothing due
    assert subscriptions.renew_due(now=now)["renewed"] == 0
    assert subscriptions.renew(sub.id, now=now) == "skipped"
    db.session.expire_all()
    renewed = db.session.get(SignalSubscription, sub.id)
    assert renewed.periods == 2 and renewed.expires_at == old_expiry + timedelta(days=30)
    assert balances(customer, "USD") == (D("40.00"), 0)
    assert revenue() == D("60.00")
    txn = db.session.scalar(select(Transaction).where(Transaction.reference_id == f"SIG-{sub.id}-2"))
    wallet = ledger.wallet_for(customer, "USD")
    platform = ledger.platform_account("subscriptions", "USD")
    assert entry_legs(txn.entry_id) == [(f"wallet:{wallet.id}", D("-30.00")), (f"platform:{platform.id}", D("30.00"))]
    assert ledger.check().ok


def test_failed_renewal_charges_nothing_tells_the_user_and_then_expires(create_user, plan):
    user = create_user()
    fund(user, "USD", "45")
    sub = subscriptions.subscribe(user, plan.id)  # 15 left, renewal needs 30
    entries_before = db.session.query(JournalEntry).count()
    now = sub.expires_at - timedelta(minutes=10)
    assert subscriptions.renew_due(now=now)["failed"] == 1
    assert subscriptions.renew_due(now=now)["failed"] == 1  # tried again, still told only once
    assert db.session.query(JournalEntry).count() == entries_before
    assert balances(user, "USD") == (D("15.00"), 0)
    failed = db.session.scalars(
        select(Notification).where(Notification.kind == "signal_subscription_renewal_failed")
    ).all()
    assert len(failed) == 1
    assert subscriptions.expire_due(now=sub.expires_at) == 1
    db.session.expire_all()
    assert db.session.get(SignalSubscription, sub.id).status == "expired"
    ended = db.session.scalar(select(Notification).where(Notification.kind == "signal_subscription_expired"))
    assert "renewal could not be charged" in ended.body
    assert ledger.check().ok


def test_trial_charges_nothing_then_renews_at_the_price_once_per_customer(customer, provider, pairs):
    trial_plan = make_plan(provider, [pairs["BTC/USD"]], name="Trial", price="20.00", trial=7)
    sub = subscriptions.subscribe(customer, trial_plan.id)
    assert sub.is_trial and sub.periods == 0
    assert abs((sub.expires_at - sub.started_at) - timedelta(days=7)) < timedelta(seconds=1)
    assert balances(customer, "USD")[0] == D("100")
    subscriptions.renew_due(now=sub.expires_at - timedelta(minutes=5))
    db.session.expire_all()
    renewed = db.session.get(SignalSubscription, sub.id)
    assert renewed.periods == 1 and not renewed.is_trial
    assert balances(customer, "USD")[0] == D("80.00")
    subscriptions.cancel(customer, sub.id)
    subscriptions.expire_due(now=renewed.expires_at)
    second = subscriptions.subscribe(customer, trial_plan.id)
    assert not second.is_trial and balances(customer, "USD")[0] == D("60.00")


def test_others_subscriptions_are_not_found(customer, create_user, plan):
    sub = subscriptions.subscribe(customer, plan.id)
    other = create_user()
    with pytest.raises(NotFound):
        subscriptions.cancel(other, sub.id)
    with pytest.raises(NotFound):
        subscriptions.get_subscription(other, sub.id)


def test_inactive_plan_cannot_be_bought(customer, plan):
    plan.is_active = False
    db.session.commit()
    with pytest.raises(NotFound):
        subscriptions.subscribe(customer, plan.id)


@postgres_only
def test_racing_subscribes_charge_once(app, create_user, plan):
    user = create_user()
    fund(user, "USD", "100")
    user_id, plan_id = user.id, plan.id

    def work(i):
        from tradeapp.models import User

        subscriptions.subscribe(db.session.get(User, user_id), plan_id)

    results = race(app, 6, work, refused=(ValidationFailed,))
    assert sorted(results) == ["insufficient"] * 5 + ["ok"], results
    assert balances(user, "USD") == (D("70.00"), 0)
    assert ledger.check().ok


@postgres_only
def test_racing_renewals_charge_one_period(app, customer, plan):
    sub = subscriptions.subscribe(customer, plan.id)
    now = sub.expires_at - timedelta(minutes=5)
    sub_id = sub.id
    results = race(app, 4, lambda i: subscriptions.renew(sub_id, now=now))
    assert results == ["ok"] * 4
    assert balances(customer, "USD") == (D("40.00"), 0)
    assert db.session.query(Transaction).filter_by(transaction_type="signal_purchase").count() == 2


ACTIONS = st.lists(
    st.tuples(st.sampled_from(["subscribe", "renew", "cancel", "resume", "expire", "fund"]), st.integers(0, 2)),
    min_size=1,
    max_size=14,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
def test_any_sequence_of_subscribe_renew_cancel_expire_keeps_the_ledger_exact(create_user, provider, pairs, actions):
    """Hypothesis: whatever customers and jobs do, the ledger checks clean and revenue equals the charges."""
    from tradeapp.models import SignalPlan

    db.session.rollback()
    plans = list(db.session.scalars(select(SignalPlan).where(SignalPlan.provider_id == provider.id)))
    if not plans:
        plans = [
            make_plan(provider, [pairs["BTC/USD"]], name="A", price="25.00", days=30),
            make_plan(provider, [pairs["ETH/USD"]], name="B", price="10.50", days=7, trial=3),
        ]
    users = [create_user() for _ in range(2)]
    for u in users:
        fund(u, "USD", "40")
    clock = utcnow()
    for action, n in actions:
        user, plan = users[n % 2], plans[n % len(plans)]
        current = db.session.scalar(
            select(SignalSubscription).where(
                SignalSubscription.user_id == user.id,
                SignalSubscription.plan_id == plan.id,
                SignalSubscription.status.in_(("active", "cancelled")),
            )
        )
        try:
            if action == "subscribe":
                subscriptions.subscribe(user, plan.id)
            elif action == "fund":
                fund(user, "USD", "20")
            elif action == "renew":
                if current is not None:
                    subscriptions.renew_due(now=current.expires_at - timedelta(minutes=1))
            elif action == "cancel" and current is not None:
                subscriptions.cancel(user, current.id)
            elif action == "resume" and current is not None:
                subscriptions.resume(user, current.id)
            elif action == "expire":
                clock = clock + timedelta(days=8)
                subscriptions.expire_due(now=clock)
        except (ValidationFailed, InsufficientFunds, IllegalTransition):
            db.session.rollback()
    report = ledger.check()
    assert report.ok, report
    charged = sum(
        db.session.scalars(select(Transaction.amount).where(Transaction.transaction_type == "signal_purchase")),
        D(0),
    )
    assert revenue() == charged
    for u in users:
        assert balances(u, "USD")[1] == 0


# -- exact charges, windows and messages (mutation testing found these unpinned) -------------------------


def _notes(user, kind):
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id, Notification.kind == kind)
            .order_by(Notification.id)
        )
    )


def _fresh(sub_id):
    db.session.expire_all()
    return db.session.get(SignalSubscription, sub_id)


def test_the_charge_names_plan_period_and_provider(customer, plan):
    sub = subscriptions.subscribe(customer, plan.id, auto_renew=False)
    assert sub.auto_renew is False
    txn = db.session.scalar(select(Transaction).where(Transaction.reference_id == f"SIG-{sub.id}-1"))
    assert (txn.transaction_type, txn.currency, txn.fee, txn.external_id) == ("signal_purchase", "USD", D("0"), "")
    assert txn.notes == "House Desk: Pro, 30 days" and txn.user_id == customer.id
    assert txn.completed_at is not None and txn.created_at == txn.completed_at
    entry = db.session.get(JournalEntry, txn.entry_id)
    assert entry.memo == f"Signal plan Pro (subscription {sub.id}, period 1)"
    assert entry.reference == f"signal_subscription:{sub.id}:1"
    [started] = _notes(customer, "signal_subscription_started")
    assert started.title == "Subscribed to Pro"
    assert started.body == f"House Desk: 30.00 USD, until {sub.expires_at:%Y-%m-%d %H:%M} UTC."
    assert (started.link, started.data) == ("/signals/subscriptions", {"subscription_id": sub.id, "plan_id": plan.id})
    assert started.dedupe_key == f"signal_sub:{sub.id}:started"


def test_a_trial_start_says_free_and_a_free_plan_charges_nothing(customer, provider, pairs):
    trial_plan = make_plan(provider, [pairs["BTC/USD"]], name="Trial", price="20.00", trial=7)
    sub = subscriptions.subscribe(customer, trial_plan.id)
    [started] = _notes(customer, "signal_subscription_started")
    assert started.body == f"House Desk: free for 7 days, until {sub.expires_at:%Y-%m-%d %H:%M} UTC."
    free = make_plan(provider, [pairs["BTC/USD"]], name="Free", price="0", days=10)
    free_sub = subscriptions.subscribe(customer, free.id)
    assert (free_sub.periods, free_sub.is_trial) == (0, False)
    assert abs((free_sub.expires_at - free_sub.started_at) - timedelta(days=10)) < timedelta(seconds=1)
    assert db.session.scalar(select(Transaction).where(Transaction.reference_id == f"SIG-{free_sub.id}-1")) is None
    assert balances(customer, "USD") == (D("100"), 0)
    # a free plan renews without a charge
    now = free_sub.expires_at - timedelta(minutes=1)
    assert subscriptions.renew(free_sub.id, now=now) == "renewed"
    assert _fresh(free_sub.id).periods == 1
    assert db.session.query(Transaction).filter_by(transaction_type="signal_purchase").count() == 0


def test_staff_cannot_subscribe_and_a_short_balance_names_the_price(create_staff, create_user, plan):
    with pytest.raises(ValidationFailed, match="^Staff accounts cannot subscribe to signals.$") as staff:
        subscriptions.subscribe(create_staff(role="admin"), plan.id)
    assert staff.value.fields == {"plan": ["Staff accounts hold no money."]}
    poor = create_user()
    fund(poor, "USD", "29.99")
    with pytest.raises(InsufficientFunds) as short:
        subscriptions.subscribe(poor, plan.id)
    assert short.value.message == "Insufficient available USD balance: this plan costs 30.00 USD."
    assert short.value.fields == {"plan": ["Costs 30.00 USD; more than you have available."]}


def test_already_subscribed_says_so_on_the_plan_field(customer, plan):
    subscriptions.subscribe(customer, plan.id)
    with pytest.raises(ValidationFailed, match="^Already subscribed to this plan.$") as again:
        subscriptions.subscribe(customer, plan.id)
    assert again.value.fields == {"plan": ["You already subscribe to this plan."]}


def test_exactly_enough_balance_subscribes(create_user, plan):
    user = create_user()
    fund(user, "USD", "30.00")
    assert subscriptions.subscribe(user, plan.id).periods == 1
    assert balances(user, "USD") == (D("0"), 0)


def test_quote_shows_charge_expiry_and_whether_the_balance_covers_it(
    customer, create_user, create_staff, plan, provider, pairs
):
    before = utcnow()
    q = subscriptions.quote(customer, plan.id)
    assert (q["plan"].id, q["trial"], q["charge"], q["currency"], q["available"], q["enough"]) == (
        plan.id,
        False,
        D("30.00"),
        "USD",
        D("100"),
        True,
    )
    assert before + timedelta(days=30) <= q["expires_at"] <= utcnow() + timedelta(days=30)
    exact = create_user()
    fund(exact, "USD", "30")
    assert subscriptions.quote(exact, plan.id)["enough"] is True
    short = create_user()
    fund(short, "USD", "29.99")
    assert subscriptions.quote(short, plan.id)["enough"] is False
    staff = subscriptions.quote(create_staff(role="admin"), plan.id)
    assert (staff["available"], staff["enough"]) == (D("0"), False)
    trial_plan = make_plan(provider, [pairs["BTC/USD"]], name="Trial", price="20.00", trial=7)
    t = subscriptions.quote(customer, trial_plan.id)
    assert (t["trial"], t["charge"], t["enough"]) == (True, D("0"), True)
    assert before + timedelta(days=7) <= t["expires_at"] <= utcnow() + timedelta(days=7)


def test_access_and_days_remaining(customer, plan):
    sub = subscriptions.subscribe(customer, plan.id)
    at = sub.expires_at
    assert subscriptions.has_access(sub, at - timedelta(seconds=1))
    assert not subscriptions.has_access(sub, at)
    assert subscriptions.days_remaining(sub, at - timedelta(days=2, hours=1)) == 2
    assert subscriptions.days_remaining(sub, at - timedelta(hours=23)) == 0
    assert subscriptions.days_remaining(sub, at + timedelta(days=1)) == 0
    assert subscriptions.current_plan_ids(customer.id, now=at - timedelta(seconds=1)) == [plan.id]
    assert subscriptions.current_plan_ids(customer.id, now=at) == []


def test_the_renewal_window_is_the_last_hour_before_expiry(customer, plan):
    sub = subscriptions.subscribe(customer, plan.id)
    at = sub.expires_at
    assert subscriptions.due_for_renewal(at - timedelta(hours=1, seconds=1)) == []
    assert subscriptions.renew(sub.id, now=at - timedelta(hours=1, seconds=1)) == "skipped"
    assert subscriptions.due_for_renewal(at) == []
    assert subscriptions.renew(sub.id, now=at) == "skipped"
    assert subscriptions.due_for_renewal(at - timedelta(hours=1)) == [sub.id]
    assert subscriptions.renew(10**9, now=at) == "skipped"
    subscriptions.set_auto_renew(customer, sub.id, False)
    assert subscriptions.due_for_renewal(at - timedelta(minutes=5)) == []
    assert subscriptions.renew(sub.id, now=at - timedelta(minutes=5)) == "skipped"
    subscriptions.set_auto_renew(customer, sub.id, True)
    assert subscriptions.renew(sub.id, now=at - timedelta(hours=1)) == "renewed"
    renewed = _fresh(sub.id)
    assert (renewed.periods, renewed.expires_at, renewed.renewal_failed_at) == (2, at + timedelta(days=30), None)
    [note] = _notes(customer, "signal_subscription_renewed")
    assert note.title == "Pro renewed"
    assert note.body == f"Charged 30.00 USD; now until {renewed.expires_at:%Y-%m-%d %H:%M} UTC."
    assert (note.link, note.data, note.dedupe_key) == (
        "/signals/subscriptions",
        {"subscription_id": sub.id},
        f"signal_sub:{sub.id}:renewed:2",
    )
    entry = db.session.scalar(select(JournalEntry).where(JournalEntry.reference == f"signal_subscription:{sub.id}:2"))
    assert entry.memo == f"Signal plan Pro (subscription {sub.id}, period 2)"


def test_a_cancelled_subscription_is_not_renewed(customer, plan):
    sub = subscriptions.subscribe(customer, plan.id)
    subscriptions.cancel(customer, sub.id)
    sub = _fresh(sub.id)
    sub.auto_renew = True  # even with the flag back on, only an active one renews
    db.session.commit()
    assert subscriptions.renew(sub.id, now=sub.expires_at - timedelta(minutes=5)) == "skipped"


def test_a_renewal_that_fails_records_when_and_says_why(create_user, plan):
    user = create_user()
    fund(user, "USD", "45")
    sub = subscriptions.subscribe(user, plan.id)
    now = sub.expires_at - timedelta(minutes=10)
    assert subscriptions.renew(sub.id, now=now) == "failed"
    failed = _fresh(sub.id)
    assert (failed.renewal_failed_at, failed.periods, failed.auto_renew) == (now, 1, True)
    [note] = _notes(user, "signal_subscription_renewal_failed")
    assert note.title == "Pro could not be renewed"
    assert note.body == (
        "We could not renew it: your available USD balance does not cover it. "
        f"Nothing was charged; it ends {failed.expires_at:%Y-%m-%d %H:%M} UTC."
    )
    assert (note.link, note.data, note.dedupe_key) == (
        "/signals/subscriptions",
        {"subscription_id": sub.id},
        f"signal_sub:{sub.id}:renewal_failed:2",
    )
    # topped up, a later run within the window renews and clears the failure
    fund(user, "USD", "15")
    assert subscriptions.renew(sub.id, now=now + timedelta(minutes=5)) == "renewed"
    assert _fresh(sub.id).renewal_failed_at is None


def test_a_plan_or_provider_withdrawn_stops_renewal(customer, create_user, plan, provider):
    sub = subscriptions.subscribe(customer, plan.id)
    plan.is_active = False
    db.session.commit()
    assert subscriptions.renew(sub.id, now=sub.expires_at - timedelta(minutes=5)) == "failed"
    stopped = _fresh(sub.id)
    assert (stopped.auto_renew, stopped.periods) == (False, 1)
    [note] = _notes(customer, "signal_subscription_renewal_failed")
    assert note.body.startswith("We could not renew it: the plan is no longer offered. Nothing was charged;")
    assert balances(customer, "USD") == (D("70.00"), 0)
    other = create_user()
    fund(other, "USD", "100")
    plan.is_active = True
    db.session.commit()
    second = subscriptions.subscribe(other, plan.id)
    provider.is_active = False
    db.session.commit()
    assert subscriptions.renew(second.id, now=second.expires_at - timedelta(minutes=5)) == "failed"
    assert _fresh(second.id).auto_renew is False


def test_resume_and_auto_renew_rules(customer, plan):
    sub = subscriptions.subscribe(customer, plan.id)
    with pytest.raises(IllegalTransition, match="^Only a cancelled subscription that has not ended can be resumed.$"):
        subscriptions.resume(customer, sub.id)
    cancelled = subscriptions.cancel(customer, sub.id)
    assert cancelled.cancelled_at is not None
    with pytest.raises(IllegalTransition, match="^Only an active subscription's renewal can be changed.$"):
        subscriptions.set_auto_renew(customer, sub.id, True)
    assert subscriptions.set_auto_renew(customer, sub.id, False).auto_renew is False  # no change: allowed
    resumed = subscriptions.resume(customer, sub.id)
    assert (resumed.status, resumed.auto_renew, resumed.cancelled_at) == ("active", True, None)
    assert subscriptions.set_auto_renew(customer, sub.id, False).auto_renew is False
    # a cancelled one past its end cannot be resumed
    subscriptions.cancel(customer, sub.id)
    lapsed = _fresh(sub.id)
    lapsed.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    with pytest.raises(IllegalTransition):
        subscriptions.resume(customer, sub.id)
    with pytest.raises(NotFound, match="^No such subscription.$"):
        subscriptions.resume(customer, 10**9)


def test_expiry_at_the_exact_moment_with_its_message(customer, plan):
    sub = subscriptions.subscribe(customer, plan.id)
    at = sub.expires_at
    assert subscriptions.expire_due(now=at - timedelta(seconds=1)) == 0
    assert subscriptions.expire_due(now=at) == 1
    ended = _fresh(sub.id)
    assert (ended.status, ended.expired_at, ended.auto_renew) == ("expired", at, False)
    [note] = _notes(customer, "signal_subscription_expired")
    assert note.title == "Pro has ended"
    assert note.body == "Your subscription to House Desk's Pro ended. Subscribe again any time."
    assert (note.link, note.data, note.dedupe_key) == (
        "/signals/subscriptions",
        {"subscription_id": sub.id},
        f"signal_sub:{sub.id}:expired",
    )
    assert subscriptions.expire_due(now=at + timedelta(days=1)) == 0
