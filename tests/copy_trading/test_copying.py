"""Copying through the real order path: allocation hold, proportional buys, fractional sells, skips, re-runs."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.copy_trading.helpers import buy, copies_of, follow, sell, trader_row
from tests.trading_helpers import balances, fund
from tradeapp.errors import ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import CopiedTrade, CopyPosition, CopySignal, CopySubscription, Hold, Notification, Order
from tradeapp.services import ledger
from tradeapp.services.copy_trading import engine, profit_share, subscriptions

D = Decimal


@pytest.fixture()
def follower(create_user):
    user = create_user(email="f@example.com", username="follower", kyc_status="approved")
    fund(user, "USD", "10000")
    return user


def _sub(sub_id) -> CopySubscription:
    db.session.expire_all()
    return db.session.get(CopySubscription, sub_id)


def test_subscribe_holds_the_allocation_in_the_ledger(lead, follower):
    sub = follow(follower, lead, copy_percentage="50")
    assert sub.allocated_amount == D("5000.00")
    assert balances(follower, "USD") == (D("10000"), D("5000.00"))
    hold = db.session.get(Hold, sub.hold_id)
    assert (hold.reason, hold.remaining, hold.status) == ("copy_allocation", D("5000.00"), "active")
    assert trader_row(lead).total_followers == 1
    assert ledger.check().ok


def test_rules_of_following(lead, follower):
    with pytest.raises(ValidationFailed, match="own trades"):
        follow(lead, lead)
    follow(follower, lead, copy_percentage="10")
    with pytest.raises(ValidationFailed) as exc:
        follow(follower, lead, copy_percentage="10")
    assert exc.value.code == "already_subscribed"
    trader = trader_row(lead)
    trader.status = "suspended"
    db.session.commit()
    with pytest.raises(ValidationFailed, match="cannot be followed"):
        subscriptions.subscribe(follower, {"trader": trader.id})


def test_a_master_buy_is_copied_in_proportion_and_once(lead, follower):
    sub = follow(follower, lead)  # 10,000 USD allocated
    master = buy(lead, "1")  # about half the master's 100,000 equity
    copies = copies_of(sub.id)
    assert [c.status for c in copies] == ["copied"]
    order = db.session.get(Order, copies[0].follower_order_id)
    assert (order.source, order.source_id, order.status) == ("copy_trade", master.id, "filled")
    signal = db.session.scalar(select(CopySignal).where(CopySignal.master_order_id == master.id))
    expected = (D(1) * D("10000.00") / signal.master_equity).quantize(D("0.000001"), "ROUND_DOWN")
    assert order.quantity == expected
    # the cash spent left the allocation's hold; the rest is still held
    spent = D("10000.00") - _sub(sub.id).cash
    assert spent == (order.quantity * order.average_price).quantize(D("0.01"), "ROUND_UP") + order.fee
    position = db.session.scalar(select(CopyPosition).where(CopyPosition.subscription_id == sub.id))
    assert position.quantity == order.quantity and position.cost == spent
    # the job again, and the sweep: nothing more
    assert engine.copy_signal(signal.id) == {}
    assert db.session.scalar(select(func.count()).select_from(CopiedTrade)) == 1
    assert ledger.check().ok
    note = db.session.scalar(select(Notification).where(Notification.user_id == follower.id))
    assert note.kind == "copy_trade_copied"


def test_a_partial_master_sell_closes_the_same_fraction(lead, follower, btc_market):
    sub = follow(follower, lead)
    buy(lead, "1")
    held = db.session.scalar(select(CopyPosition.quantity).where(CopyPosition.subscription_id == sub.id))
    btc_market.set("BTC/USD", "51000", "51010", levels=10, size="50", step="10")
    sell(lead, "0.25")
    copies = copies_of(sub.id)
    assert [c.status for c in copies] == ["copied", "copied"]
    sold = db.session.get(Order, copies[1].follower_order_id)
    assert sold.side == "sell" and sold.quantity == (held / 4).quantize(D("0.000001"), "ROUND_DOWN")
    assert copies[1].realized_pnl > 0
    left = db.session.scalar(select(CopyPosition.quantity).where(CopyPosition.subscription_id == sub.id))
    assert left == held - sold.quantity
    assert _sub(sub.id).realized_profit == copies[1].realized_pnl
    sell(lead, "0.75")  # the master closes everything: so does the copy
    left = db.session.scalar(select(CopyPosition.quantity).where(CopyPosition.subscription_id == sub.id))
    assert left == 0
    assert ledger.check().ok


def test_skips_are_recorded_with_reasons(lead, follower, btc_market, create_user, monkeypatch):
    small = create_user(email="s@example.com", username="small")
    fund(small, "USD", "8")
    tiny = follow(small, lead)
    guarded = follow(follower, lead, copy_percentage="50", slippage_percentage="0.5")
    paused = create_user(email="p@example.com", username="paused")
    fund(paused, "USD", "5000")
    psub = follow(paused, lead)
    subscriptions.update_subscription(paused, psub.id, {"is_active": False})
    # the master fills at 50,010; the market then jumps 2 % before the copy job runs
    monkeypatch.setattr("tradeapp.services.uow.enqueue", lambda *a, **k: None)
    master = buy(lead, "1")
    signal = db.session.scalar(select(CopySignal).where(CopySignal.master_order_id == master.id))
    btc_market.set("BTC/USD", "51000", "51020", levels=10, size="50", step="10")
    engine.copy_signal(signal.id)
    reasons = {c.subscription_id: (c.status, c.reason) for c in db.session.scalars(select(CopiedTrade))}
    assert reasons[guarded.id] == ("skipped", "slippage")
    assert reasons[psub.id] == ("skipped", "paused")
    assert reasons[tiny.id] == ("skipped", "below_minimum")
    assert db.session.scalar(select(func.count()).select_from(Order).where(Order.source == "copy_trade")) == 0
    assert ledger.check().ok


def test_a_stale_market_skips_with_the_reason(lead, follower, btc_market, monkeypatch):
    from tradeapp.services.trading import prices

    sub = follow(follower, lead)
    monkeypatch.setattr("tradeapp.services.uow.enqueue", lambda *a, **k: None)
    master = buy(lead, "1")
    signal = db.session.scalar(select(CopySignal).where(CopySignal.master_order_id == master.id))

    def stale(*args, **kwargs):
        raise prices.MarketStale("BTC/USD prices are 90 s old.")

    monkeypatch.setattr(prices, "live_quote", stale)
    engine.copy_signal(signal.id)
    copy = copies_of(sub.id)[0]
    assert (copy.status, copy.reason) == ("skipped", "market_stale")
    assert "90 s" in copy.detail


def test_a_subscription_made_after_the_fill_does_not_copy_it(lead, follower):
    master = buy(lead, "0.5")
    sub = follow(follower, lead)
    signal = db.session.scalar(select(CopySignal).where(CopySignal.master_order_id == master.id))
    engine.copy_signal(signal.id)
    assert copies_of(sub.id) == []


def test_open_positions_are_copied_at_the_start_when_asked(lead, follower):
    buy(lead, "1")
    sub = follow(follower, lead, copy_open_positions=True)
    copies = copies_of(sub.id)
    assert [c.status for c in copies] == ["copied"]
    assert db.session.get(Order, copies[0].follower_order_id).side == "buy"
    assert ledger.check().ok


def test_partial_patch_pause_resume_and_no_trader_change(lead, follower, create_user):
    sub = follow(follower, lead, copy_percentage="50")
    subscriptions.update_subscription(follower, sub.id, {"max_position_size": "1000"})
    assert _sub(sub.id).max_position_size == D("1000")
    subscriptions.update_subscription(follower, sub.id, {"copy_percentage": "20"})
    # 20 % of what is free (5,000 available + 5,000 allocated)
    assert _sub(sub.id).cash == D("2000.00")
    assert balances(follower, "USD") == (D("10000"), D("2000.00"))
    other = create_user(email="o@example.com", username="other", kyc_status="approved")
    from tests.copy_trading.helpers import make_trader

    make_trader(create_user, email="l2@example.com", username="lead2")
    with pytest.raises(ValidationFailed, match="another trader"):
        subscriptions.update_subscription(follower, sub.id, {"trader": trader_row(lead).id + 1})
    subscriptions.update_subscription(follower, sub.id, {"is_active": "false"})
    assert _sub(sub.id).status == "paused"
    subscriptions.update_subscription(follower, sub.id, {"is_active": True})
    assert _sub(sub.id).status == "active"
    assert other is not None
    assert ledger.check().ok


def test_unsubscribe_settles_releases_and_keeps_history(lead, follower, btc_market):
    sub = follow(follower, lead)
    buy(lead, "1")
    btc_market.set("BTC/USD", "55000", "55010", levels=10, size="50", step="10")
    sell(lead, "1")
    realized = _sub(sub.id).realized_profit
    assert realized > 0
    lead_before = balances(lead, "USD")[0]
    subscriptions.unsubscribe(follower, sub.id)
    ended = _sub(sub.id)
    assert ended.status == "ended" and ended.ended_at is not None
    due = (realized * D("0.10")).quantize(D("0.01"), "ROUND_DOWN")
    assert ended.profit_share_paid == due and ended.high_water_mark == realized
    assert balances(lead, "USD")[0] == lead_before + due
    assert balances(follower, "USD")[1] == 0  # nothing held any more
    assert len(copies_of(sub.id)) == 2  # history kept
    assert trader_row(lead).total_followers == 0
    assert profit_share.settle_all() == 0
    assert ledger.check().ok
    # following again later is a new subscription
    again = follow(follower, lead, copy_percentage="10")
    assert again.id != sub.id


def test_daily_profit_share_once_per_day_and_losses_carry_forward(lead, follower, btc_market):
    from datetime import date

    sub = follow(follower, lead)
    buy(lead, "1")
    btc_market.set("BTC/USD", "52000", "52010", levels=10, size="50", step="10")
    sell(lead, "1")
    gain = _sub(sub.id).realized_profit
    assert profit_share.settle_all(date(2026, 11, 1)) == 1
    assert profit_share.settle_all(date(2026, 11, 1)) == 0
    paid = _sub(sub.id).profit_share_paid
    assert paid == (gain * D("0.1")).quantize(D("0.01"), "ROUND_DOWN")
    # a losing round trip: nothing due, and the next gain must first earn the loss back
    buy(lead, "1")
    btc_market.set("BTC/USD", "50000", "50010", levels=10, size="50", step="10")
    sell(lead, "1")
    assert _sub(sub.id).realized_profit < gain
    assert profit_share.settle_all(date(2026, 11, 2)) == 0
    assert _sub(sub.id).profit_share_paid == paid
    assert ledger.check().ok


def test_portfolio_stop_pauses_and_closes_at_market(lead, follower, btc_market):
    sub = follow(follower, lead, stop_loss_percentage="2")
    buy(lead, "1")
    assert _sub(sub.id).status == "active"
    btc_market.set("BTC/USD", "20000", "20010", levels=10, size="50", step="10")
    assert engine.check_stops() == 1
    stopped = _sub(sub.id)
    assert stopped.status == "stopped" and "Portfolio stop" in stopped.status_reason
    assert db.session.scalar(select(CopyPosition.quantity).where(CopyPosition.subscription_id == sub.id)) == 0
    assert stopped.realized_profit < 0
    # stopped: the next master trade is skipped with the reason
    master = buy(lead, "0.1")
    copy = db.session.scalar(select(CopiedTrade).where(CopiedTrade.master_order_id == master.id))
    assert (copy.status, copy.reason) == ("skipped", "stopped")
    assert ledger.check().ok


def test_sweep_enqueues_lost_signals(app, lead, follower, monkeypatch):
    from datetime import timedelta

    from tradeapp.models.types import utcnow

    sub = follow(follower, lead)
    # a lost job: the signal is written but its job never ran
    monkeypatch.setattr(engine, "COPY_JOB", "tradeapp.jobs.maintenance.purge_expired_tokens")
    monkeypatch.setattr("tradeapp.services.uow.enqueue", lambda *a, **k: None)
    master = buy(lead, "0.5")
    assert copies_of(sub.id) == []
    signal = db.session.scalar(select(CopySignal).where(CopySignal.master_order_id == master.id))
    signal.created_at = utcnow() - timedelta(minutes=5)
    sub = db.session.get(CopySubscription, sub.id)
    sub.created_at = utcnow() - timedelta(minutes=10)
    db.session.commit()
    monkeypatch.setattr(engine, "COPY_JOB", "tradeapp.jobs.copy_trading.copy_signal")
    assert engine.sweep() == 1
    assert [c.status for c in copies_of(sub.id)] == ["copied"]
    assert engine.sweep() == 0


def test_a_resting_master_limit_order_is_copied_when_it_fills(lead, follower, btc_market):
    from tradeapp.services.trading import orders

    sub = follow(follower, lead)
    limit = orders.place_order(
        lead, {"symbol": "BTC/USD", "order_type": "limit", "side": "buy", "quantity": "1", "price": "49000.00"}
    )
    assert limit.status == "open" and copies_of(sub.id) == []
    btc_market.set("BTC/USD", "48980", "48990", levels=10, size="50", step="10")
    assert orders.check_triggers("BTC/USD") == 1
    copies = copies_of(sub.id)
    assert [c.status for c in copies] == ["copied"] and copies[0].master_order_id == limit.id
    assert ledger.check().ok


def test_the_platform_cut_of_a_profit_share_goes_to_fees(app, lead, follower, btc_market, monkeypatch):
    from tradeapp.models import PlatformAccount, ProfitShareSettlement

    monkeypatch.setitem(app.config, "COPY_PLATFORM_FEE_PCT", "20")
    sub = follow(follower, lead)
    buy(lead, "1")
    btc_market.set("BTC/USD", "55000", "55010", levels=10, size="50", step="10")
    fees_before = db.session.scalar(
        select(PlatformAccount.balance).where(PlatformAccount.code == "fees", PlatformAccount.currency == "USD")
    )
    sell(lead, "1")
    profit_share.settle_all()
    settlement = db.session.scalar(select(ProfitShareSettlement).where(ProfitShareSettlement.subscription_id == sub.id))
    assert settlement.platform_fee == (settlement.amount * D("0.2")).quantize(D("0.01"), "ROUND_DOWN")
    assert settlement.trader_amount + settlement.platform_fee == settlement.amount > 0
    db.session.expire_all()
    fees_after = db.session.scalar(
        select(PlatformAccount.balance).where(PlatformAccount.code == "fees", PlatformAccount.currency == "USD")
    )
    assert fees_after - fees_before >= settlement.platform_fee  # plus the trading fees of the sells
    assert ledger.check().ok


def test_followers_get_copy_trade_events_on_their_room(lead, follower, monkeypatch):
    from tradeapp import realtime

    events = []
    monkeypatch.setattr(realtime, "emit_to_user", lambda uid, event, data: events.append((uid, event, data)))
    sub = follow(follower, lead)
    master = buy(lead, "0.5")
    copy_events = [data for uid, event, data in events if event == "copy_trade" and uid == follower.id]
    assert len(copy_events) == 1
    assert copy_events[0]["status"] == "copied" and copy_events[0]["master_order"] == master.id
    assert copy_events[0]["subscription"] == sub.id and copy_events[0]["follower_order"] is not None
    assert not [e for e in events if e[1] == "copy_trade" and e[0] == lead.id]
