"""Outcomes decided from a scripted price path (stored 1-minute candles and the live tick), and the
track record they add up to."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.signals.test_publish_delivery import signal_data
from tests.trading_helpers import fund
from tradeapp.errors import IllegalTransition
from tradeapp.extensions import db
from tradeapp.models import Notification, SignalProvider, TradingSignal
from tradeapp.services.signals import lifecycle, publishing, record, subscriptions
from tradeapp.services.trading import candles

D = Decimal
MIN = 60_000


@pytest.fixture()
def analyst(create_staff):
    return create_staff(role="analyst")


def path(pair, signal, closes: list[tuple[str, str, str]]):
    """Store 1-minute bars (high, low, close) starting the minute after the signal was published."""
    start = (int(signal.created_at.timestamp() * 1000) // MIN + 1) * MIN
    bars = [
        {"timestamp": start + i * MIN, "open": c, "high": h, "low": lo, "close": c, "volume": "1"}
        for i, (h, lo, c) in enumerate(closes)
    ]
    candles.store(pair.id, "1m", bars)
    db.session.commit()
    return start + len(bars) * MIN


def at(ms: int):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC)


def publish(analyst, provider, **over):
    return publishing.publish(analyst, signal_data(provider, **over))


def test_take_profit_stop_loss_and_expiry_from_a_scripted_path(analyst, provider, plan, pairs, market, create_user):
    market.set("BTC/USD", "50000", "50010")
    sub = create_user()
    fund(sub, "USD", "30")
    subscriptions.subscribe(sub, plan.id)
    btc = pairs["BTC/USD"]
    win = publish(analyst, provider)  # buy 50000, SL 49000, TP 53000
    loss = publish(analyst, provider, signal_type="sell", stop_loss="51000", take_profit="47000")
    stale = publish(analyst, provider, entry_price="50000", stop_loss="45000", take_profit="60000")
    # Path: drifts up to 53100 (the buy's TP, and the sell's SL at 51000 first), never reaches 45000/60000.
    end = path(
        btc,
        win,
        [
            ("50400", "49900", "50300"),
            ("50900", "50200", "50800"),
            ("51200", "50700", "51100"),
            ("53100", "51000", "53000"),
        ],
    )
    now = at(end)
    counts = lifecycle.run(now=now)
    assert counts["hit_tp"] == 1 and counts["hit_sl"] == 1 and counts["expired"] == 0
    db.session.expire_all()
    win, loss, stale = (db.session.get(TradingSignal, s.id) for s in (win, loss, stale))
    assert (win.status, win.exit_price, win.r_multiple) == ("hit_tp", D("53000"), D("3"))
    assert (loss.status, loss.exit_price, loss.r_multiple) == ("hit_sl", D("51000"), D("-1"))
    assert win.closed_at == now and stale.status == "active"
    # the subscriber is told of each outcome once, even if the job runs again
    lifecycle.run(now=now)
    outcomes = db.session.scalars(select(Notification.title).where(Notification.kind == "signal_outcome")).all()
    assert len(outcomes) == 2 and any("take-profit" in t and "+3.00R" in t for t in outcomes)
    # past its validity (1h timeframe: 72 h) the last one expires at the last price seen
    market.set("BTC/USD", "52000", "52010")
    expired_at = stale.valid_until + timedelta(seconds=1)
    assert lifecycle.run(now=expired_at)["expired"] == 1
    db.session.expire_all()
    stale = db.session.get(TradingSignal, stale.id)
    assert stale.status == "expired" and stale.exit_price == D("53000") and stale.r_multiple == D("0.6")
    with pytest.raises(IllegalTransition):
        stale.transition_to("hit_tp")
    db.session.rollback()

    # the track record is what the outcomes say: 1 TP of 3 decided, avg R (3 - 1 + 0.6) / 3
    rec = record.track_record(provider.id)
    assert rec["overall"] == {
        "signals": 3,
        "decided": 3,
        "hit_tp": 1,
        "hit_sl": 1,
        "expired": 1,
        "hit_rate": D("33.33"),
        "avg_r": D("0.87"),
        "total_r": D("2.60"),
    }
    assert rec["by_pair"]["BTC/USD"]["signals"] == 3
    assert list(rec["by_month"]) == [win.created_at.strftime("%Y-%m")]
    provider_row = db.session.get(SignalProvider, provider.id)
    assert (provider_row.accuracy_rate, provider_row.total_signals) == (D("33.33"), 3)


def test_a_bar_that_reaches_both_levels_counts_as_the_stop(analyst, provider, plan, pairs, market):
    market.set("BTC/USD", "50000", "50010")
    signal = publish(analyst, provider)
    end = path(pairs["BTC/USD"], signal, [("53500", "48500", "50000")])
    assert lifecycle.evaluate(signal.id, now=at(end)) == "hit_sl"


def test_the_live_tick_decides_between_bars(analyst, provider, plan, pairs, market):
    market.set("BTC/USD", "50000", "50010")
    signal = publish(analyst, provider)
    assert lifecycle.evaluate(signal.id) is None  # 50000 is between the levels
    market.set("BTC/USD", "53050", "53060")
    assert lifecycle.evaluate(signal.id) == "hit_tp"


def test_prices_before_publication_do_not_count(analyst, provider, plan, pairs, market):
    market.set("BTC/USD", "50000", "50010")
    signal = publish(analyst, provider)
    start = (int(signal.created_at.timestamp() * 1000) // MIN) * MIN  # the bar it was published in
    candles.store(
        pairs["BTC/USD"].id,
        "1m",
        [
            {"timestamp": start - MIN * k, "open": "1", "high": "60000", "low": "40000", "close": "1", "volume": "1"}
            for k in range(3)
        ],
    )
    db.session.commit()
    assert lifecycle.evaluate(signal.id, now=signal.created_at + timedelta(minutes=5)) is None
