"""Executing a signal: market within the tolerance, a limit at entry beyond it, stops attached,
``close`` closes the position, 403 without a subscription, through the normal order path."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.signals.test_publish_delivery import signal_data
from tests.trading_helpers import balances, fund
from tradeapp.errors import IllegalTransition, NotFound, PermissionDenied, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import Position, SignalNotification
from tradeapp.services import ledger
from tradeapp.services.signals import execution, lifecycle, publishing, subscriptions
from tradeapp.services.trading import orders

D = Decimal


@pytest.fixture()
def analyst(create_staff):
    return create_staff(role="analyst")


@pytest.fixture()
def subscriber(create_user, plan, market):
    user = create_user()
    fund(user, "USD", "100030")
    subscriptions.subscribe(user, plan.id)
    market.set("BTC/USD", "50000", "50010", levels=5, size="1", step="10")
    return user


def position_of(user):
    return db.session.scalar(select(Position).where(Position.user_id == user.id))


def test_buy_within_tolerance_is_a_market_order_with_the_stops_on_the_position(analyst, provider, subscriber):
    signal = publishing.publish(analyst, signal_data(provider, entry_price="50050"))
    order = execution.execute(subscriber, signal.id, {"quantity": "0.5"})
    assert (order.order_type, order.side, order.status, order.source, order.source_id) == (
        "market",
        "buy",
        "filled",
        "signal",
        signal.id,
    )
    position = position_of(subscriber)
    assert (position.quantity, position.stop_loss, position.take_profit) == (D("0.5"), D("49000"), D("53000"))
    note = db.session.scalar(select(SignalNotification).where(SignalNotification.user_id == subscriber.id))
    assert note.acted_on and note.order_id == order.id and not note.protection_pending
    assert ledger.check().ok


def test_amount_in_quote_currency_converts_at_the_entry(analyst, provider, subscriber):
    signal = publishing.publish(analyst, signal_data(provider, entry_price="50000"))
    order = execution.execute(subscriber, signal.id, {"amount": "1000"})
    assert order.quantity == D("0.02")


def test_beyond_the_tolerance_a_limit_rests_at_entry_and_gets_its_stops_when_filled(
    analyst, provider, subscriber, market
):
    signal = publishing.publish(analyst, signal_data(provider, entry_price="49500", stop_loss="48000"))
    order = execution.execute(subscriber, signal.id, {"quantity": "0.1"})
    assert (order.order_type, order.price, order.status) == ("limit", D("49500"), "open")
    note = db.session.scalar(select(SignalNotification).where(SignalNotification.user_id == subscriber.id))
    assert note.protection_pending
    market.set("BTC/USD", "49480", "49490", size="1", step="10")
    assert orders.check_triggers("BTC/USD") == 1
    assert lifecycle.run()["protected"] == 1
    db.session.expire_all()
    position = position_of(subscriber)
    assert (position.quantity, position.stop_loss, position.take_profit) == (D("0.1"), D("48000"), D("53000"))
    assert not db.session.get(SignalNotification, note.id).protection_pending


def test_close_signal_closes_the_position(analyst, provider, subscriber):
    buy = publishing.publish(analyst, signal_data(provider, entry_price="50010"))
    execution.execute(subscriber, buy.id, {"quantity": "0.3"})
    close = publishing.publish(analyst, signal_data(provider, signal_type="close", stop_loss=None, take_profit=None))
    order = execution.execute(subscriber, close.id, {})
    assert order.side == "sell" and order.status == "filled" and order.quantity == D("0.3")
    assert position_of(subscriber).quantity == 0
    with pytest.raises(ValidationFailed):
        execution.execute(subscriber, close.id, {})  # nothing left to close


def test_without_a_subscription_403_and_unknown_404(analyst, provider, subscriber, create_user):
    signal = publishing.publish(analyst, signal_data(provider))
    stranger = create_user()
    fund(stranger, "USD", "100000")
    with pytest.raises(PermissionDenied) as exc:
        execution.execute(stranger, signal.id, {"quantity": "0.1"})
    assert exc.value.status == 403
    with pytest.raises(NotFound):
        execution.execute(subscriber, signal.id + 100, {"quantity": "0.1"})
    with pytest.raises(NotFound):
        execution.get_signal(stranger, signal.id)
    assert balances(stranger, "USD") == (D("100000"), 0)


def test_a_decided_signal_cannot_be_executed_and_levels_already_passed_are_refused(
    analyst, provider, subscriber, market
):
    signal = publishing.publish(analyst, signal_data(provider))
    market.set("BTC/USD", "48900", "48910")
    with pytest.raises(ValidationFailed) as exc:
        execution.execute(subscriber, signal.id, {"quantity": "0.1"})
    assert exc.value.code == "signal_past_levels"
    lifecycle.run()
    with pytest.raises(IllegalTransition):
        execution.execute(subscriber, signal.id, {"quantity": "0.1"})


def test_quantity_or_amount_not_both(analyst, provider, subscriber):
    signal = publishing.publish(analyst, signal_data(provider))
    with pytest.raises(ValidationFailed):
        execution.execute(subscriber, signal.id, {"quantity": "0.1", "amount": "100"})
    with pytest.raises(ValidationFailed):
        execution.execute(subscriber, signal.id, {})


def test_sell_signal_sells_what_the_user_holds_and_protects_nothing(analyst, provider, subscriber):
    fund(subscriber, "BTC", "1")
    signal = publishing.publish(
        analyst, signal_data(provider, signal_type="sell", entry_price="50000", stop_loss="51000", take_profit="47000")
    )
    order = execution.execute(subscriber, signal.id, {"quantity": "0.4"})
    assert (order.side, order.order_type, order.status, order.source) == ("sell", "market", "filled", "signal")
    assert balances(subscriber, "BTC") == (D("0.6"), 0)
    note = db.session.scalar(select(SignalNotification).where(SignalNotification.user_id == subscriber.id))
    assert note.acted_on and not note.protection_pending
    assert ledger.check().ok
