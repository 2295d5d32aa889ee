"""Publishing (validation, daily limits per plan) and the fan-out: exactly the covered subscribers,
once each (two plans, one notification), over Socket.IO in a test client, e-mail by preference."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.signals.conftest import make_plan, make_provider
from tests.trading_helpers import fund
from tradeapp.errors import ValidationFailed
from tradeapp.extensions import db, socketio
from tradeapp.models import AuditLog, Notification, SignalNotification, SignalPlanLink, SignalProvider
from tradeapp.models.types import utcnow
from tradeapp.services import notifications
from tradeapp.services.signals import delivery, publishing, subscriptions
from tradeapp.services.tokens import issue_tokens


def signal_data(provider_, **over):
    data = {
        "provider": provider_.id,
        "trading_pair": "BTC/USD",
        "signal_type": "buy",
        "entry_price": "50000",
        "stop_loss": "49000",
        "take_profit": "53000",
        "timeframe": "1h",
        "confidence": "75",
        "analysis": "Breakout above the range.",
    }
    data.update(over)
    return data


@pytest.fixture()
def analyst(create_staff):
    return create_staff(role="analyst")


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"stop_loss": "51000"}, "stop_loss"),  # a buy's stop above entry
        ({"take_profit": "48000"}, "take_profit"),  # a buy's target below entry
        ({"signal_type": "sell"}, "stop_loss"),  # the buy's levels on a sell
        ({"signal_type": "close", "stop_loss": "49000"}, "stop_loss"),
        ({"signal_type": "hold"}, "signal_type"),
        ({"entry_price": "-5"}, "entry_price"),
        ({"entry_price": "50000.123"}, "entry_price"),  # finer than the pair's price step
        ({"timeframe": "2h"}, "timeframe"),
        ({"confidence": "101"}, "confidence"),
        ({"trading_pair": "DOGE/USD"}, "trading_pair"),
        ({"provider": "999"}, "provider"),
    ],
)
def test_publish_validation(analyst, provider, plan, over, field):
    with pytest.raises(ValidationFailed) as exc:
        publishing.publish(analyst, signal_data(provider, **over))
    assert field in exc.value.fields


def test_a_sell_takes_its_levels_the_other_way_round(analyst, provider, plan):
    signal = publishing.publish(
        analyst, signal_data(provider, signal_type="sell", stop_loss="51000", take_profit="47000")
    )
    assert signal.status == "active" and signal.signal_type == "sell"
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "signal.publish")) is not None


def test_no_plan_covering_the_pair_refuses(analyst, provider, pairs):
    make_plan(provider, [pairs["ETH/USD"]])
    with pytest.raises(ValidationFailed) as exc:
        publishing.publish(analyst, signal_data(provider))
    assert exc.value.code == "no_plan_covers_pair"


def test_max_signals_per_day_is_enforced_per_plan(analyst, provider, pairs, create_user):
    small = make_plan(provider, [pairs["BTC/USD"]], name="Small", per_day=1)
    big = make_plan(provider, [pairs["BTC/USD"]], name="Big", per_day=3)
    small_user, big_user = create_user(), create_user()
    for u, p in ((small_user, small), (big_user, big)):
        fund(u, "USD", "30")
        subscriptions.subscribe(u, p.id)
    ids = [publishing.publish(analyst, signal_data(provider)).id for _ in range(3)]
    with pytest.raises(ValidationFailed) as exc:
        publishing.publish(analyst, signal_data(provider))
    assert exc.value.code == "daily_limit_reached"
    links = db.session.execute(select(SignalPlanLink.signal_id, SignalPlanLink.plan_id)).all()
    assert sorted(links) == sorted([(ids[0], small.id), *[(i, big.id) for i in ids]])

    def got(u):
        return sorted(
            db.session.scalars(select(SignalNotification.signal_id).where(SignalNotification.user_id == u.id))
        )

    assert got(small_user) == ids[:1]
    assert got(big_user) == ids


def test_fan_out_reaches_exactly_the_covered_subscribers_once_over_socketio(app, analyst, provider, pairs, create_user):
    """Two plans covering BTC (one user on both), one plan on ETH only, a lapsed and a cancelled subscriber."""
    btc_a = make_plan(provider, [pairs["BTC/USD"]], name="BTC A")
    btc_b = make_plan(provider, list(pairs.values()), name="BTC+ETH B")
    eth = make_plan(provider, [pairs["ETH/USD"]], name="ETH only")
    other_provider = make_provider("Other desk", "third_party")
    other = make_plan(other_provider, [pairs["BTC/USD"]], name="Other BTC")
    both, one, cancelled, eth_only, lapsed, other_user = (create_user() for _ in range(6))
    for u in (both, one, cancelled, eth_only, lapsed, other_user):
        fund(u, "USD", "200")
    subscriptions.subscribe(both, btc_a.id)
    subscriptions.subscribe(both, btc_b.id)
    subscriptions.subscribe(one, btc_b.id)
    subscriptions.cancel(cancelled, subscriptions.subscribe(cancelled, btc_a.id).id)  # keeps access
    subscriptions.subscribe(eth_only, eth.id)
    old = subscriptions.subscribe(lapsed, btc_a.id)
    subscriptions.cancel(lapsed, old.id)
    old.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert subscriptions.expire_due() == 1
    subscriptions.subscribe(other_user, other.id)

    clients = {}
    for u in (both, one, cancelled, eth_only, lapsed, other_user):
        clients[u.id] = socketio.test_client(app, auth={"token": issue_tokens(u)["access"]})
        clients[u.id].get_received()
    try:
        signal = publishing.publish(analyst, signal_data(provider, stop_loss=None))
        events = {
            uid: [e["args"][0] for e in sc.get_received() if e["name"] == "trading_signal"]
            for uid, sc in clients.items()
        }
    finally:
        for sc in clients.values():
            sc.disconnect()

    reached = {both.id, one.id, cancelled.id}
    assert {uid for uid, ev in events.items() if ev} == reached
    assert all(len(events[uid]) == 1 for uid in reached)
    payload = events[both.id][0]
    assert payload["id"] == signal.id and payload["trading_pair"] == "BTC/USD" and payload["type"] == "buy"
    assert payload["entry_price"] == "50000.00" and payload["take_profit"] == "53000.00"
    assert payload["stop_loss"] is None  # null, never "None"
    assert payload["confidence"] == "75.00" and payload["analysis"] == "Breakout above the range."
    rows = db.session.execute(select(SignalNotification.user_id).where(SignalNotification.signal_id == signal.id))
    assert sorted(r[0] for r in rows) == sorted(reached)
    notes = db.session.scalars(select(Notification.user_id).where(Notification.kind == "signal_published")).all()
    assert sorted(notes) == sorted(reached)
    # a re-run of the job reaches nobody again
    assert delivery.fan_out(signal.id) == 0
    assert db.session.query(SignalNotification).count() == 3


def test_email_only_where_the_preference_allows(app, analyst, provider, plan, create_user, tmp_path):
    wants, does_not = create_user(), create_user()
    for u in (wants, does_not):
        fund(u, "USD", "30")
        subscriptions.subscribe(u, plan.id)
    notifications.set_preference(wants.id, "signal_published", email=True)
    sent = []
    import tradeapp.services.uow as uow_module

    original = uow_module.send_mail

    def capture(to, subject, template, **context):
        sent.append((to, subject))

    uow_module.send_mail = capture
    try:
        publishing.publish(analyst, signal_data(provider))
    finally:
        uow_module.send_mail = original
    recipients = [to for to, subject in sent if "BUY BTC/USD" in subject]
    assert recipients == [wants.email]


def test_provider_counts_published_signals(analyst, provider, plan):
    publishing.publish(analyst, signal_data(provider))
    publishing.publish(analyst, signal_data(provider, signal_type="close", stop_loss=None, take_profit=None))
    db.session.expire_all()
    assert db.session.get(SignalProvider, provider.id).total_signals == 1  # close signals are not scored
