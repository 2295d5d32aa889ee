"""The feed runner: quotes to the ticker rooms, kept for other processes, failures isolated."""

import json

import pytest

from tradeapp.extensions import socketio
from tradeapp.market.runner import PUBLISHED_TTL, FeedRunner, book_key, last_quote, quote_key, start_embedded_feed
from tradeapp.market.simulated import SimulatedFeed
from tradeapp.models import TradingPair
from tradeapp.services.seed import seed_pairs

T0 = 1_790_000_000.0


class Clock:
    def __init__(self, t=0.0):
        self.t = t

    def __call__(self):
        return self.t


class FlakyFeed(SimulatedFeed):
    """Fails for the symbols in ``broken``; counts calls per symbol."""

    def __init__(self, broken=(), **kw):
        super().__init__(seed=3, clock=lambda: T0, **kw)
        self.broken = set(broken)
        self.calls: dict[str, int] = {}

    def ticker(self, symbol):
        self.calls[symbol] = self.calls.get(symbol, 0) + 1
        if symbol in self.broken:
            raise ConnectionError(f"{symbol}: exchange unreachable")
        return super().ticker(symbol)


@pytest.fixture()
def pairs(db):
    seed_pairs()
    db.session.commit()
    pairs = db.session.query(TradingPair).all()
    db.session.commit()  # on SQLite an open transaction holds the lock the runner's own session needs
    return pairs


@pytest.fixture()
def runner(app, pairs):
    return FeedRunner(app, feed=FlakyFeed(), interval=1.0, clock=Clock())


def _tickers(socket_client):
    return [e["args"][0] for e in socket_client.get_received() if e["name"] == "ticker"]


def test_quotes_reach_only_the_subscribed_ticker_rooms(app, runner):
    btc = socketio.test_client(app)
    fx = socketio.test_client(app)
    nobody = socketio.test_client(app)
    assert btc.emit("subscribe", {"symbols": ["BTC-USD"]}, callback=True) == {"ok": True}
    fx.emit("subscribe", {"symbols": ["EUR-USD", "GBP-USD"]})

    published = runner.tick_once()

    assert set(published) == {"BTC/USD", "ETH/USD", "EUR/USD", "GBP/USD"}
    [quote] = _tickers(btc)
    assert quote["symbol"] == "BTC/USD"
    assert quote == published["BTC/USD"]
    # JSON-safe: Decimals travel as exact strings.
    assert isinstance(quote["last"], str) and quote["last"].count(".") == 1
    assert float(quote["bid"]) < float(quote["ask"])
    assert sorted(q["symbol"] for q in _tickers(fx)) == ["EUR/USD", "GBP/USD"]
    assert _tickers(nobody) == []

    fx.emit("unsubscribe", {"symbols": ["GBP-USD"]})
    runner.tick_once()
    assert [q["symbol"] for q in _tickers(fx)] == ["EUR/USD"]
    for c in (btc, fx, nobody):
        c.disconnect()


def test_inactive_pairs_are_not_published(app, db, runner, pairs):
    eth = next(p for p in pairs if p.symbol == "ETH/USD")
    eth.is_active = False
    db.session.commit()

    assert "ETH/USD" not in runner.tick_once()
    assert "ETH/USD" not in runner.feed.calls


def test_last_quote_is_kept_in_memory_and_in_redis(app, runner, redis_conn, monkeypatch):
    monkeypatch.setitem(app.extensions, "tradeapp.redis", redis_conn)

    published = runner.tick_once()

    assert runner.quotes["EUR/USD"] == published["EUR/USD"]
    assert json.loads(redis_conn.get(quote_key("EUR/USD"))) == published["EUR/USD"]
    # kept for a day: a dead feed shows as stale prices rather than as none at all
    assert 0 < redis_conn.ttl(quote_key("EUR/USD")) <= PUBLISHED_TTL
    assert json.loads(redis_conn.get(book_key("EUR/USD")))["asks"]
    # Another process (no runner of its own) reads it from Redis.
    with app.app_context():
        assert last_quote("EUR/USD") == published["EUR/USD"]
        assert last_quote("XAU/USD") is None


def test_a_failing_pair_backs_off_without_stopping_the_others(app, runner):
    runner.feed.broken = {"ETH/USD"}

    published = runner.tick_once()
    assert set(published) == {"BTC/USD", "EUR/USD", "GBP/USD"}
    assert runner.failures == {"ETH/USD": 1}

    # Within the back-off window the broken pair is not even asked; the others carry on.
    runner.clock.t = 1.5
    assert set(runner.tick_once()) == {"BTC/USD", "EUR/USD", "GBP/USD"}
    assert runner.feed.calls["ETH/USD"] == 1 and runner.feed.calls["BTC/USD"] == 2

    # After it, it is retried; still failing doubles the wait.
    runner.clock.t = 2.0
    runner.tick_once()
    assert runner.failures == {"ETH/USD": 2}
    assert runner.retry_at["ETH/USD"] == 2.0 + 4.0

    runner.feed.broken = set()
    runner.clock.t = 6.0
    assert "ETH/USD" in runner.tick_once()
    assert runner.failures == {} and runner.retry_at == {}


def test_back_off_is_capped(app, runner):
    runner.feed.broken = {"BTC/USD"}
    for _ in range(12):
        runner.clock.t = runner.retry_at.get("BTC/USD", runner.clock.t)
        runner.tick_once()
    assert runner.retry_at["BTC/USD"] - runner.clock.t == 60.0


def test_the_loop_survives_errors_until_stopped(app, runner):
    calls = []

    def tick():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("database unreachable")
        runner.stop()
        return {}

    runner.tick_once = tick
    runner.interval = 0
    runner.run()
    assert len(calls) == 3


def test_embedded_feed_starts_once_and_stops(app, pairs):
    try:
        first = start_embedded_feed(app)
        assert start_embedded_feed(app) is first
        first.stop()
        first.thread.join(timeout=30)
        assert not first.thread.is_alive()
    finally:
        app.extensions.pop("tradeapp.feed", None)


def test_feed_cli_once(app, pairs):
    result = app.test_cli_runner().invoke(args=["feed", "run", "--once"])
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()] == ["BTC/USD", "ETH/USD", "EUR/USD", "GBP/USD"]


def test_feed_cli_once_without_pairs(app, db):
    result = app.test_cli_runner().invoke(args=["feed", "run", "--once"])
    assert result.exit_code == 0
    assert "seed demo" in result.output


def test_a_new_feed_clears_a_failure_left_by_an_earlier_one(app, runner, redis_conn, monkeypatch):
    from tradeapp.market.runner import pair_status, status_key

    monkeypatch.setitem(app.extensions, "tradeapp.redis", redis_conn)
    redis_conn.set(status_key("EUR/USD"), json.dumps({"failures": 12, "last_error": "exchange unreachable"}))

    assert "EUR/USD" in runner.tick_once()

    assert redis_conn.get(status_key("EUR/USD")) is None
    with app.app_context():
        assert pair_status("EUR/USD") is None


def test_candle_failures_count_in_feed_health_without_stopping_quotes(app, pairs, redis_conn, monkeypatch):
    """Feed health counts every failure of the feed process: a pair whose candles cannot be stored shows it."""
    from decimal import InvalidOperation

    from tradeapp.market.runner import FeedHooks, pair_status, status_key
    from tradeapp.services.trading.prices import feed_status

    monkeypatch.setitem(app.extensions, "tradeapp.redis", redis_conn)
    broken = {"EUR/USD"}

    def store(pair, feed, backfill):
        if pair.symbol in broken:
            raise InvalidOperation("quantize")

    runner = FeedRunner(app, feed=FlakyFeed(), interval=1.0, clock=Clock(), hooks=FeedHooks(sync_candles=store))
    runner.tick_once()
    assert "EUR/USD" not in runner.sync_candles()
    assert runner.candle_failures == {"EUR/USD": 1}
    # the quote keeps flowing: the candle failure survives the next healthy tick, in Redis too
    assert "EUR/USD" in runner.tick_once()
    stored = json.loads(redis_conn.get(status_key("EUR/USD")))
    assert stored["candle_failures"] == 1 and "InvalidOperation" in stored["last_candle_error"]
    assert "failures" not in stored  # quotes are healthy: trading is not stopped
    with app.app_context():
        row = next(r for r in feed_status() if r["symbol"] == "EUR/USD")
        assert row["failures"] == 1 and row["candle_failures"] == 1 and row["quote_failures"] == 0
        assert row["last_error"].startswith("candles: InvalidOperation")
        assert not row["stale"]
        assert next(r for r in feed_status() if r["symbol"] == "GBP/USD")["failures"] == 0

    runner.clock.t = 61.0
    runner.sync_candles()
    assert runner.candle_failures == {"EUR/USD": 2}
    assert json.loads(redis_conn.get(status_key("EUR/USD")))["candle_failures"] == 2

    broken.clear()
    runner.clock.t = 122.0
    runner.tick_once()
    assert "EUR/USD" in runner.sync_candles()
    assert runner.candle_failures == {}
    assert redis_conn.get(status_key("EUR/USD")) is None
    with app.app_context():
        assert pair_status("EUR/USD") is None
