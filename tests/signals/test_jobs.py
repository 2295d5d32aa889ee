"""The signals jobs are thin and safe to run twice: renewal + expiry, the lifecycle, the fan-out."""

from datetime import timedelta

from sqlalchemy import select

from tests.signals.test_publish_delivery import signal_data
from tests.trading_helpers import balances, fund
from tradeapp.extensions import db
from tradeapp.jobs import signals as jobs
from tradeapp.models import SignalNotification, SignalSubscription, Transaction
from tradeapp.models.types import utcnow
from tradeapp.services.signals import publishing, subscriptions


def test_subscription_job_renews_the_due_and_ends_the_lapsed(create_user, plan):
    due, lapsed = create_user(), create_user()
    for u in (due, lapsed):
        fund(u, "USD", "60")
    a = subscriptions.subscribe(due, plan.id)
    b = subscriptions.subscribe(lapsed, plan.id)
    db.session.get(SignalSubscription, a.id).expires_at = utcnow() + timedelta(minutes=20)
    db.session.get(SignalSubscription, b.id).expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    first = jobs.renew_signal_subscriptions()
    second = jobs.renew_signal_subscriptions()
    assert (first["renewed"], first["expired"]) == (1, 1)
    assert (second["renewed"], second["expired"]) == (0, 0)
    assert balances(due, "USD")[0] == 0
    assert db.session.query(Transaction).filter_by(transaction_type="signal_purchase").count() == 3
    assert db.session.get(SignalSubscription, b.id).status == "expired"


def test_fan_out_and_lifecycle_jobs_run_twice_harmlessly(create_user, create_staff, provider, plan, market):
    market.set("BTC/USD", "50000", "50010")
    user = create_user()
    fund(user, "USD", "30")
    subscriptions.subscribe(user, plan.id)
    signal = publishing.publish(create_staff(role="analyst"), signal_data(provider))
    assert jobs.fan_out_signal(signal.id) == 0  # the publish already ran it (inline jobs)
    assert db.session.scalar(select(SignalNotification.user_id)) == user.id
    market.set("BTC/USD", "53100", "53110")
    assert jobs.signal_lifecycle()["hit_tp"] == 1
    assert jobs.signal_lifecycle()["hit_tp"] == 0
