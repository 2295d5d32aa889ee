"""A simulated market that replays real historical candles (embedded mode, demos, tests).

Each pair replays a recorded OHLCV series from ``tradeapp/data/ohlcv/`` (see its NOTICE.md)
in real time: one source candle lasts as long as it did originally (an hour, or a day for
ETH), and within a candle the price walks open → low/high → high/low → close with seeded
noise. Prices are a pure function of (seed, symbol, time), so two feeds with the same seed
agree tick for tick and a restart continues where the market "was".

Levels: the recordings are from 2017–2020, so each candle is rescaled by the present price
over the series' 30-day centred moving average at that candle (normalised so the series ends
exactly at the present price). Percentage moves are the real ones; the level stays near today's.

The simulation's arithmetic (interpolation, noise) is float; every published number is
converted once to ``Decimal`` and quantized to the pair's precision — that Decimal is the price.
"""

import csv
import functools
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from pathlib import Path

from tradeapp.market.base import TIMEFRAMES, MarketFeed, PairSpec, UnknownSymbol

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "ohlcv"
DAY = 86_400


@dataclass(frozen=True)
class Source:
    """A recorded series and the present-day level it is rescaled to."""

    file: str
    #: seconds per recorded candle (the replay runs at the same speed)
    period: int
    #: roughly today's price of the recorded market
    present: float
    #: applied on top, to derive a market we have no recording of
    ratio: float = 1.0
    pair_type: str = "crypto"


SOURCES: dict[str, Source] = {
    "BTC/USD": Source("BTC-USD_1h_coinbase.csv", 3600, 95_000.0),
    "ETH/USD": Source("ETH-USD_1d_bitstamp.csv", DAY, 3_300.0),
    "EUR/USD": Source("EUR-USD_1h_gym-anytrading.csv", 3600, 1.16, pair_type="forex"),
    # No GBP recording in the data set: GBP/USD is EUR/USD times a constant GBP/EUR rate of 1.14
    # (replayed at its own phase, so the two do not move in lockstep on screen).
    "GBP/USD": Source("EUR-USD_1h_gym-anytrading.csv", 3600, 1.16, ratio=1.14, pair_type="forex"),
}

#: bid/ask spread as a fraction of the mid price (a broker's retail spread, not an exchange's)
SPREAD = {"crypto": 0.0004, "forex": 0.00008}
#: distance between synthetic order-book levels, as a fraction of the mid
BOOK_STEP = {"crypto": 0.0002, "forex": 0.00002}
#: typical size of one order-book level: crypto by USD notional, forex in base units
BOOK_SIZE = {"crypto": ("notional", 25_000.0), "forex": ("units", 250_000.0)}
DEFAULT_PRECISION = {"crypto": (2, 6), "forex": (5, 2)}


@dataclass(frozen=True)
class Series:
    """Rescaled candles of one source: parallel lists, oldest first."""

    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[float]

    def __len__(self) -> int:
        return len(self.close)


@functools.cache
def load_series(source: Source) -> Series:
    """Read the recording and rescale it around the present level (cached per process)."""
    rows = []
    with (DATA_DIR / source.file).open(newline="") as fh:
        for row in csv.DictReader(fh):
            o, h, lo, c = (float(row[k]) for k in ("open", "high", "low", "close"))
            rows.append((o, max(h, o, c), min(lo, o, c), c, float(row["volume"])))
    closes = [r[3] for r in rows]
    n = len(closes)
    half = max(1, (30 * DAY // source.period) // 2)
    cumulative = [0.0]
    for c in closes:
        cumulative.append(cumulative[-1] + c)

    def anchor(i: int) -> float:
        lo, hi = max(0, i - half), min(n, i + half + 1)
        return (cumulative[hi] - cumulative[lo]) / (hi - lo)

    level = source.present * source.ratio
    end_correction = anchor(n - 1) / closes[-1]
    factors = [level / anchor(i) * end_correction for i in range(n)]
    return Series(
        open=[r[0] * f for r, f in zip(rows, factors, strict=True)],
        high=[r[1] * f for r, f in zip(rows, factors, strict=True)],
        low=[r[2] * f for r, f in zip(rows, factors, strict=True)],
        close=[r[3] * f for r, f in zip(rows, factors, strict=True)],
        volume=[r[4] for r in rows],
    )


def _rng(*parts) -> random.Random:
    # String seeds are hashed with SHA-512: stable across processes and Python runs.
    return random.Random("|".join(str(p) for p in parts))


def _quantize(value: float, step: Decimal, rounding=ROUND_HALF_EVEN) -> Decimal:
    return Decimal(repr(value)).quantize(step, rounding=rounding)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SimulatedFeed(MarketFeed):
    """Deterministic replay of recorded markets; ``clock`` is injectable for tests."""

    name = "simulated"

    def __init__(self, seed: int = 42, pairs: Iterable[PairSpec] = (), clock: Callable[[], float] = time.time) -> None:
        super().__init__(pairs)
        self.seed = seed
        self.clock = clock
        self._phases: dict[str, int] = {}
        self._shapes: dict[tuple[str, int], tuple[tuple[float, ...], tuple[float, ...]]] = {}

    # -- the price path ---------------------------------------------------------------------

    def _source(self, symbol: str) -> tuple[Source, Series]:
        source = SOURCES.get(symbol)
        if source is None:
            raise UnknownSymbol(symbol)
        return source, load_series(source)

    def spec(self, symbol: str) -> PairSpec:
        spec = self.pairs.get(symbol)
        if spec is None:
            source = self._source(symbol)[0]
            price_precision, quantity_precision = DEFAULT_PRECISION[source.pair_type]
            spec = PairSpec(symbol, source.pair_type, price_precision, quantity_precision)
        return spec

    def _phase(self, symbol: str, n: int) -> int:
        """Where in the recording this seed's market starts (differs per seed and symbol)."""
        if symbol not in self._phases:
            self._phases[symbol] = _rng(self.seed, symbol, "phase").randrange(n)
        return self._phases[symbol]

    def _candle_index(self, symbol: str, t: float) -> tuple[int, int, float]:
        """(absolute candle number, index into the series, fraction of the candle elapsed) at ``t``."""
        source, series = self._source(symbol)
        k = math.floor(t / source.period)
        index = (k + self._phase(symbol, len(series))) % len(series)
        return k, index, t / source.period - k

    def _waypoints(self, symbol: str, k: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Times (fractions) and prices the path passes through within candle number ``k``."""
        shape = self._shapes.get((symbol, k))
        if shape is None:
            if len(self._shapes) > 4096:
                self._shapes.clear()
            shape = self._shapes[(symbol, k)] = self._shape(symbol, k)
        return shape

    def _shape(self, symbol: str, k: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
        source, series = self._source(symbol)
        i = (k + self._phase(symbol, len(series))) % len(series)
        o, h, lo, c = series.open[i], series.high[i], series.low[i], series.close[i]
        rng = _rng(self.seed, symbol, k, "shape")
        low_first = (c >= o) != (rng.random() < 0.3)  # rising candles usually dip first
        first, second = (lo, h) if low_first else (h, lo)
        a, b = rng.uniform(0.15, 0.45), rng.uniform(0.55, 0.85)
        return (0.0, a, b, 1.0), (o, first, second, c)

    def price_at(self, symbol: str, t: float) -> float:
        """The simulated mid price at epoch seconds ``t`` (float; publish via the quantized forms)."""
        source, series = self._source(symbol)
        k, i, u = self._candle_index(symbol, t)
        times, prices = self._waypoints(symbol, k)
        seg = 0 if u < times[1] else 1 if u < times[2] else 2
        frac = (u - times[seg]) / (times[seg + 1] - times[seg])
        price = prices[seg] + (prices[seg + 1] - prices[seg]) * frac
        # Noise vanishes at the waypoints, so the path still touches the candle's open/high/low/close;
        # it is smaller for long candles so that a second's jitter looks alike on every pair.
        sigma = 0.025 * math.sqrt(3600 / source.period)
        span = series.high[i] - series.low[i]
        noise = _rng(self.seed, symbol, math.floor(t), "tick").gauss(0.0, sigma) * span * math.sin(math.pi * frac)
        return min(series.high[i], max(series.low[i], price + noise))

    def _extremes(self, symbol: str, start: float, end: float) -> tuple[float, float, float]:
        """(high, low, volume) of the path over [start, end]."""
        source, series = self._source(symbol)
        samples = [self.price_at(symbol, start + (end - start) * j / 24) for j in range(25)]
        high, low, volume = max(samples), min(samples), 0.0
        k = math.floor(start / source.period)
        while k * source.period < end:
            c_start, c_end = k * source.period, (k + 1) * source.period
            i = self._candle_index(symbol, c_start)[1]
            overlap = min(end, c_end) - max(start, c_start)
            if overlap > 0:
                volume += series.volume[i] * overlap / source.period
            if c_start >= start and c_end <= end:  # whole candle inside: its real extremes count
                high, low = max(high, series.high[i]), min(low, series.low[i])
            k += 1
        return high, low, volume

    # -- the MarketFeed interface -------------------------------------------------------------

    def _bid_ask(self, spec: PairSpec, mid: float) -> tuple[Decimal, Decimal]:
        half = mid * SPREAD[spec.pair_type] / 2
        bid = _quantize(mid - half, spec.price_step, ROUND_DOWN)
        ask = _quantize(mid + half, spec.price_step, ROUND_UP)
        if ask <= bid:
            ask = bid + spec.price_step
        return bid, ask

    def ticker(self, symbol: str) -> dict:
        spec = self.spec(symbol)
        t = self.clock()
        mid = self.price_at(symbol, t)
        before = self.price_at(symbol, t - DAY)
        high, low, volume = self._extremes(symbol, t - DAY, t)
        bid, ask = self._bid_ask(spec, mid)
        last = min(ask, max(bid, _quantize(mid, spec.price_step)))
        return {
            "symbol": symbol,
            "last": last,
            "bid": bid,
            "ask": ask,
            "change_24h": _quantize((mid / before - 1) * 100, Decimal("0.01")),
            "high_24h": max(_quantize(high, spec.price_step), ask),
            "low_24h": min(_quantize(low, spec.price_step), bid),
            "volume": _quantize(volume, spec.quantity_step, ROUND_DOWN),
            "timestamp": _iso(t),
        }

    def order_book(self, symbol: str, depth: int = 10) -> dict:
        spec = self.spec(symbol)
        depth = max(1, min(int(depth), 100))
        t = self.clock()
        mid = self.price_at(symbol, t)
        bid, ask = self._bid_ask(spec, mid)
        step = max(spec.price_step, _quantize(mid * BOOK_STEP[spec.pair_type], spec.price_step))
        kind, size = BOOK_SIZE[spec.pair_type]
        base_size = size / mid if kind == "notional" else size
        rng = _rng(self.seed, symbol, math.floor(t), "book")

        def level(price: Decimal, i: int) -> list[Decimal]:
            qty = _quantize(base_size * rng.uniform(0.2, 1.0) * (1 + 0.3 * i), spec.quantity_step, ROUND_DOWN)
            return [price, max(qty, spec.quantity_step)]

        bids = [level(bid - step * i, i) for i in range(depth) if bid - step * i > 0]
        asks = [level(ask + step * i, i) for i in range(depth)]
        return {"symbol": symbol, "bids": bids, "asks": asks, "timestamp": _iso(t)}

    def candles(self, symbol: str, timeframe: str = "1h", since: int | None = None, limit: int = 100) -> list[dict]:
        if timeframe not in TIMEFRAMES:
            raise ValueError(f"unknown timeframe {timeframe!r}; use one of {', '.join(TIMEFRAMES)}")
        spec = self.spec(symbol)
        size = TIMEFRAMES[timeframe]
        limit = max(1, min(int(limit), 1000))
        now = self.clock()
        last_start = math.floor(now / size) * size
        start = last_start - (limit - 1) * size if since is None else math.ceil(since / 1000 / size) * size
        bars = []
        while start <= last_start and len(bars) < limit:
            end = min(start + size, now)
            open_ = self.price_at(symbol, start)
            close = self.price_at(symbol, end if end == now else end - 1)
            high, low, volume = self._extremes(symbol, start, end)
            bars.append(
                {
                    "timestamp": int(start * 1000),
                    "open": _quantize(open_, spec.price_step),
                    "high": _quantize(max(high, open_, close), spec.price_step),
                    "low": _quantize(min(low, open_, close), spec.price_step),
                    "close": _quantize(close, spec.price_step),
                    "volume": _quantize(volume, spec.quantity_step, ROUND_DOWN),
                }
            )
            start += size
        return bars
