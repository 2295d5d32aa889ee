"""Live prices from real exchanges through ccxt (public endpoints; API keys optional).

Each of our pairs is routed to an exchange and that exchange's symbol (``TradingPair.feed_exchange``
and ``feed_symbol``, e.g. BTC/USD → binance BTC/USDT). One synchronous ccxt exchange instance per
exchange id is created on first use (``enableRateLimit`` on, timeout from CCXT_TIMEOUT_MS) and reused.

ccxt hands back floats; each one is converted once with ``Decimal(str(x))`` (the shortest repr, i.e.
the exchange's own decimal string) and quantized to the pair's precision with ROUND_HALF_EVEN. Output
matches the simulated feed: Decimals, quote/book timestamps as ISO 8601 UTC strings, candle
timestamps as epoch milliseconds.

Missing fields: when the exchange gives no bid or ask, the last price stands in for it (so a quote
always has both sides; some venues' tickers omit them); with no last price, the bid/ask mid is used;
with neither, the quote fails. A missing 24 h change/high/low/volume is ``None``. A ticker or book
without an exchange timestamp is stamped with the time it was fetched.

Errors: any ccxt error (network, timeout, rate limit, exchange error) becomes ``FeedError``, which
the runner treats like any failing pair (back-off, no quote published). A symbol we have no route for,
or that the exchange does not list, is ``UnknownSymbol``.
"""

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import ccxt

from tradeapp.market.base import TIMEFRAMES, FeedError, MarketFeed, PairSpec, UnknownSymbol

#: our symbol → (ccxt exchange id, the exchange's symbol)
Routes = Mapping[str, tuple[str, str]]
PERCENT_STEP = Decimal("0.01")


def _iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _decimal(value, step: Decimal) -> Decimal | None:
    """A ccxt number (float, int or numeric string) as a Decimal quantized to ``step``; None stays None."""
    if value is None:
        return None
    try:
        return Decimal(str(value)).quantize(step, rounding=ROUND_HALF_EVEN)
    except (InvalidOperation, ValueError) as exc:
        raise FeedError(f"not a number from the exchange: {value!r}") from exc


class CcxtFeed(MarketFeed):
    """Quotes, books and candles from ccxt exchanges, one instance per exchange id."""

    name = "ccxt"

    def __init__(
        self,
        routes: Routes | Callable[[], Routes],
        pairs: Iterable[PairSpec] = (),
        timeout_ms: int = 10_000,
        credentials: Mapping[str, Mapping[str, str]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``routes`` is a mapping, or a function returning one that is called again on each
        ``set_pairs`` (the runner passes one reading the trading pairs, so staff edits apply).
        ``credentials`` maps an exchange id to ccxt options such as ``apiKey``/``secret``."""
        self._route_loader = None
        super().__init__(pairs)
        # With a loader, routes are read on first use and again on each set_pairs.
        self._route_loader = routes if callable(routes) else None
        self.routes: dict[str, tuple[str, str]] | None = None if callable(routes) else dict(routes)
        self.timeout_ms = int(timeout_ms)
        self.credentials = dict(credentials or {})
        self.clock = clock
        #: ccxt exchange instances by id; tests put prepared (offline) instances here
        self.exchanges: dict[str, ccxt.Exchange] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    # -- routing ------------------------------------------------------------------------------

    def set_pairs(self, pairs: Iterable[PairSpec]) -> None:
        super().set_pairs(pairs)
        if self._route_loader is not None:
            self.routes = dict(self._route_loader())

    def route(self, symbol: str) -> tuple[str, str]:
        """(exchange id, exchange symbol) for our ``symbol``."""
        if self.routes is None:
            self.routes = dict(self._route_loader())
        try:
            return self.routes[symbol]
        except KeyError:
            raise UnknownSymbol(symbol) from None

    def spec(self, symbol: str) -> PairSpec:
        self.route(symbol)
        return self.pairs.get(symbol) or PairSpec(symbol)

    def exchange(self, exchange_id: str) -> ccxt.Exchange:
        """The (shared) ccxt instance for ``exchange_id``, created on first use."""
        with self._guard:
            instance = self.exchanges.get(exchange_id)
            if instance is None:
                if exchange_id not in ccxt.exchanges:
                    raise FeedError(f"ccxt has no exchange {exchange_id!r}")
                options = {"enableRateLimit": True, "timeout": self.timeout_ms}
                options.update(self.credentials.get(exchange_id, {}))
                instance = self.exchanges[exchange_id] = getattr(ccxt, exchange_id)(options)
            return instance

    def _call(self, symbol: str, method: str, *args):
        """Run ``exchange.<method>(exchange_symbol, *args)`` for our ``symbol``, translating errors."""
        exchange_id, exchange_symbol = self.route(symbol)
        exchange = self.exchange(exchange_id)
        with self._guard:
            lock = self._locks.setdefault(exchange_id, threading.Lock())
        try:
            with lock:  # ccxt's sync instances (rate limiter, session) are not made for concurrent use
                return getattr(exchange, method)(exchange_symbol, *args)
        except ccxt.BadSymbol as exc:
            raise UnknownSymbol(f"{symbol}: {exchange_id} does not list {exchange_symbol}") from exc
        except ccxt.BaseError as exc:
            raise FeedError(f"{symbol}: {exchange_id} {method} failed: {type(exc).__name__}: {exc}") from exc

    # -- the MarketFeed interface -------------------------------------------------------------

    def ticker(self, symbol: str) -> dict:
        spec = self.spec(symbol)
        raw = self._call(symbol, "fetch_ticker")
        price = spec.price_step
        last, bid, ask = (_decimal(raw.get(k), price) for k in ("last", "bid", "ask"))
        if last is None and bid is not None and ask is not None:
            last = ((bid + ask) / 2).quantize(price, rounding=ROUND_HALF_EVEN)
        if last is None:
            raise FeedError(f"{symbol}: the exchange sent no price")
        timestamp = raw.get("timestamp")
        return {
            "symbol": symbol,
            "last": last,
            "bid": last if bid is None else bid,
            "ask": last if ask is None else ask,
            "change_24h": _decimal(raw.get("percentage"), PERCENT_STEP),
            "high_24h": _decimal(raw.get("high"), price),
            "low_24h": _decimal(raw.get("low"), price),
            "volume": _decimal(raw.get("baseVolume"), spec.quantity_step),
            "timestamp": _iso(timestamp if timestamp is not None else self.clock() * 1000),
        }

    def order_book(self, symbol: str, depth: int = 10) -> dict:
        spec = self.spec(symbol)
        depth = max(1, min(int(depth), 100))
        raw = self._call(symbol, "fetch_order_book", depth)

        def side(levels, descending: bool) -> list[list[Decimal]]:
            out = []
            for level in levels or ():
                price = _decimal(level[0], spec.price_step)
                qty = _decimal(level[1], spec.quantity_step)
                if qty:  # a level smaller than our quantity step shows as nothing
                    out.append([price, qty])
            out.sort(key=lambda lv: lv[0], reverse=descending)
            return out[:depth]

        timestamp = raw.get("timestamp")
        return {
            "symbol": symbol,
            "bids": side(raw.get("bids"), descending=True),
            "asks": side(raw.get("asks"), descending=False),
            "timestamp": _iso(timestamp if timestamp is not None else self.clock() * 1000),
        }

    def candles(self, symbol: str, timeframe: str = "1h", since: int | None = None, limit: int = 100) -> list[dict]:
        if timeframe not in TIMEFRAMES:
            raise ValueError(f"unknown timeframe {timeframe!r}; use one of {', '.join(TIMEFRAMES)}")
        spec = self.spec(symbol)
        limit = max(1, min(int(limit), 1000))
        rows = self._call(symbol, "fetch_ohlcv", timeframe, since, limit)
        price, qty = spec.price_step, spec.quantity_step
        bars = [
            {
                "timestamp": int(ts),
                "open": _decimal(o, price),
                "high": _decimal(h, price),
                "low": _decimal(lo, price),
                "close": _decimal(c, price),
                "volume": _decimal(v, qty) if v is not None else Decimal(0).quantize(qty),
            }
            for ts, o, h, lo, c, v in (row[:6] for row in rows)
        ]
        bars.sort(key=lambda bar: bar["timestamp"])
        return bars[:limit]
