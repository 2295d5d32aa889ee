"""Stored candles: the feed keeps them, the candles API serves them when current."""

import time
from decimal import Decimal

from tests.trading_helpers import ManualFeed
from tradeapp.extensions import db
from tradeapp.market.runner import FeedRunner
from tradeapp.models import Candle
from tradeapp.services.trading import candles

D = Decimal


class CandleFeed(ManualFeed):
    """A ManualFeed whose candles are ``n`` bars ending at its creation, closing at ``close``.

    "Now" is fixed when the feed is made, so a test that crosses a minute boundary on the wall
    clock still sees the same newest bar on every call.
    """

    def __init__(self, close="100.00") -> None:
        super().__init__()
        self.close = D(close)
        self.now = time.time()
        self.calls: list[tuple[str, int]] = []

    def candles(self, symbol, timeframe="1h", since=None, limit=100):
        from tradeapp.market.base import TIMEFRAMES

        self.calls.append((timeframe, limit))
        size = TIMEFRAMES[timeframe]
        last = int(self.now // size * size)
        return [
            {
                "timestamp": (last - (limit - 1 - i) * size) * 1000,
                "open": self.close - 1,
                "high": self.close + 2,
                "low": self.close - 3,
                "close": self.close,
                "volume": D("1.5"),
            }
            for i in range(limit)
        ]


def test_the_feed_backfills_then_refreshes_and_updates_the_moving_bar(app, pairs):
    feed = CandleFeed()
    feed.set("BTC/USD", "99", "101")
    clock = {"t": 1000.0}
    runner = FeedRunner(app, feed=feed, interval=1.0, clock=lambda: clock["t"])
    db.session.rollback()
    runner.tick_once()
    assert runner.sync_candles() == ["BTC/USD"]
    assert {limit for _, limit in feed.calls} == {candles.BACKFILL}
    assert db.session.query(Candle).filter_by(timeframe="1h").count() == candles.BACKFILL

    feed.calls.clear()
    feed.close = D("105.00")
    assert runner.sync_candles() == []  # not yet a minute later
    clock["t"] += 61
    db.session.rollback()
    assert runner.sync_candles() == ["BTC/USD"]
    assert {limit for _, limit in feed.calls} == {candles.REFRESH}
    newest = db.session.query(Candle).filter_by(timeframe="1m").order_by(Candle.open_time.desc()).first()
    assert newest.close == D("105.00")
    assert db.session.query(Candle).filter_by(timeframe="1m").count() == candles.BACKFILL


def test_candles_api_serves_stored_bars_when_current(app, api_client, pairs, market):
    pair = pairs["BTC/USD"]
    feed = CandleFeed("123.45")
    candles.store(pair.id, "1h", feed.candles("BTC/USD", "1h", limit=5))
    db.session.commit()

    body = api_client.get("/api/v1/candles/BTC-USD/?timeframe=1h&limit=5").get_json()
    assert len(body["candles"]) == 5
    assert body["candles"][-1][1:] == ["122.45", "125.45", "120.45", "123.45", "1.500000"]
    timestamps = [c[0] for c in body["candles"]]
    assert timestamps == sorted(timestamps)
    # more than is stored: the feed answers (the ManualFeed has no candles)
    assert api_client.get("/api/v1/candles/BTC-USD/?timeframe=1h&limit=50").get_json()["candles"] == []
