"""The simulated feed: deterministic, positive, quantized, consistent quotes, books and candles."""

from decimal import Decimal

import pytest

from tradeapp.market.base import PairSpec, UnknownSymbol
from tradeapp.market.simulated import SOURCES, SimulatedFeed, load_series

T0 = 1_790_000_000.0  # a fixed instant (Sept 2026)
SPECS = [
    PairSpec("BTC/USD", "crypto", 2, 6),
    PairSpec("ETH/USD", "crypto", 2, 5),
    PairSpec("EUR/USD", "forex", 5, 2),
    PairSpec("GBP/USD", "forex", 5, 2),
]


class Clock:
    def __init__(self, t=T0):
        self.t = t

    def __call__(self):
        return self.t


def _feed(seed=42, t=T0):
    clock = Clock(t)
    return SimulatedFeed(seed=seed, pairs=SPECS, clock=clock), clock


def _ticks(feed, clock, symbol, n=40, step=0.7):
    out = []
    for i in range(n):
        clock.t = T0 + i * step
        out.append(feed.ticker(symbol))
    return out


def _exponent(value: Decimal) -> int:
    return -value.as_tuple().exponent


@pytest.mark.parametrize("symbol", [s.symbol for s in SPECS])
def test_same_seed_gives_the_same_ticks(symbol):
    a, clock_a = _feed(seed=7)
    b, clock_b = _feed(seed=7)
    assert _ticks(a, clock_a, symbol) == _ticks(b, clock_b, symbol)


def test_a_different_seed_gives_a_different_market():
    a, clock_a = _feed(seed=7)
    b, clock_b = _feed(seed=8)
    assert [t["last"] for t in _ticks(a, clock_a, "BTC/USD")] != [t["last"] for t in _ticks(b, clock_b, "BTC/USD")]


def test_prices_move_over_time():
    feed, clock = _feed()
    lasts = {t["last"] for t in _ticks(feed, clock, "BTC/USD", n=30, step=60)}
    assert len(lasts) > 10


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.symbol)
def test_ticker_is_positive_quantized_and_consistent(spec):
    feed, clock = _feed()
    for tick in _ticks(feed, clock, spec.symbol, n=25, step=3601):
        assert set(tick) == {"symbol", "last", "bid", "ask", "change_24h", "high_24h", "low_24h", "volume", "timestamp"}
        assert tick["symbol"] == spec.symbol
        for key in ("last", "bid", "ask", "high_24h", "low_24h"):
            assert isinstance(tick[key], Decimal)
            assert tick[key] > 0
            assert _exponent(tick[key]) == spec.price_precision, (key, tick[key])
        assert tick["bid"] < tick["ask"]
        assert tick["bid"] <= tick["last"] <= tick["ask"]
        assert tick["low_24h"] <= tick["bid"] and tick["ask"] <= tick["high_24h"]
        assert tick["volume"] >= 0 and _exponent(tick["volume"]) == spec.quantity_precision
        assert _exponent(tick["change_24h"]) == 2
        assert tick["timestamp"].endswith("Z")


def test_levels_are_near_present_day_prices():
    feed, clock = _feed()
    # Any moment of the replay: within a factor of two of today's level.
    for i in range(0, 24 * 400, 97):
        clock.t = T0 + i * 3600
        for symbol, source in SOURCES.items():
            last = feed.ticker(symbol)["last"]
            level = Decimal(repr(source.present * source.ratio))
            assert level / 2 < last < level * 2, (symbol, last)


def test_series_ends_at_the_present_level():
    for source in SOURCES.values():
        series = load_series(source)
        assert series.close[-1] == pytest.approx(source.present * source.ratio)
        assert all(
            lo <= min(o, c) and max(o, c) <= hi
            for o, hi, lo, c in zip(series.open, series.high, series.low, series.close, strict=True)
        )


def test_gbp_is_derived_from_eur_at_its_own_phase():
    feed, _ = _feed()
    eur, gbp = feed.ticker("EUR/USD")["last"], feed.ticker("GBP/USD")["last"]
    assert Decimal("1.1") < gbp / eur < Decimal("1.2")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.symbol)
def test_order_book_is_sorted_around_the_mid(spec):
    feed, _ = _feed()
    book = feed.order_book(spec.symbol, depth=15)
    ticker = feed.ticker(spec.symbol)
    bids, asks = book["bids"], book["asks"]
    assert len(bids) == len(asks) == 15
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)
    assert len({p for p, _ in bids}) == 15 and len({p for p, _ in asks}) == 15
    assert bids[0][0] == ticker["bid"] and asks[0][0] == ticker["ask"]
    assert bids[0][0] < asks[0][0]
    for price, qty in bids + asks:
        assert price > 0 and qty > 0
        assert _exponent(price) == spec.price_precision
        assert _exponent(qty) == spec.quantity_precision


def test_order_book_depth_is_bounded():
    feed, _ = _feed()
    assert len(feed.order_book("BTC/USD", depth=0)["bids"]) == 1
    assert len(feed.order_book("BTC/USD", depth=10_000)["asks"]) == 100


@pytest.mark.parametrize("timeframe", ["1m", "15m", "1h", "4h", "1d"])
def test_candles_are_consistent_bars_ending_now(timeframe):
    feed, clock = _feed()
    bars = feed.candles("BTC/USD", timeframe, limit=30)
    assert len(bars) == 30
    stamps = [b["timestamp"] for b in bars]
    assert stamps == sorted(stamps) and len(set(stamps)) == 30
    assert (
        stamps[-1]
        <= clock.t * 1000
        < stamps[-1] + {"1m": 60, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400}[timeframe] * 1000
    )
    for bar in bars:
        assert bar["low"] <= min(bar["open"], bar["close"]) <= max(bar["open"], bar["close"]) <= bar["high"]
        assert bar["low"] > 0 and _exponent(bar["close"]) == 2
    assert bars[-1]["close"] == feed.ticker("BTC/USD")["last"] or abs(
        bars[-1]["close"] - feed.ticker("BTC/USD")["last"]
    ) <= Decimal("0.01")


def test_candles_since_and_limit():
    feed, clock = _feed()
    since = int((clock.t - 5 * 3600) * 1000)
    bars = feed.candles("EUR/USD", "1h", since=since, limit=3)
    assert len(bars) == 3 and bars[0]["timestamp"] >= since
    assert feed.candles("EUR/USD", "1h", since=int((clock.t + 7200) * 1000)) == []
    # Bars starting at or after ``since`` (T0 is 22 min 40 s past the hour), up to the current one.
    assert len(feed.candles("EUR/USD", "1h", since=since)) == 5


def test_closed_candles_do_not_change_as_time_passes():
    feed, clock = _feed()
    before = feed.candles("ETH/USD", "1h", limit=5)[:-1]
    clock.t += 7200
    after = feed.candles("ETH/USD", "1h", since=before[0]["timestamp"], limit=4)
    assert after == before


def test_bad_requests_are_refused():
    feed, _ = _feed()
    with pytest.raises(UnknownSymbol):
        feed.ticker("DOGE/USD")
    with pytest.raises(ValueError, match="timeframe"):
        feed.candles("BTC/USD", "7m")


def test_unconfigured_known_symbols_use_default_precision():
    feed = SimulatedFeed(seed=1, clock=lambda: T0)
    assert _exponent(feed.ticker("EUR/USD")["last"]) == 5
