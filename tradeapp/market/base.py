"""The one interface every market feed implements (simulated now; ccxt exchanges later).

Prices and sizes are ``Decimal`` quantized to the pair's precision; timestamps are ISO 8601
UTC strings (quotes) or epoch milliseconds (candles, as exchanges send them).
"""

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

#: candle sizes the feeds understand, in seconds
TIMEFRAMES = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400}


class UnknownSymbol(KeyError):
    """The feed has no prices for this symbol."""


class FeedError(Exception):
    """The price source failed (network, timeout, exchange error): retry later, trade on nothing stale."""


@dataclass(frozen=True)
class PairSpec:
    """What a feed needs to know about a pair to format its prices."""

    symbol: str
    pair_type: str = "crypto"
    price_precision: int = 2
    quantity_precision: int = 8

    @classmethod
    def from_model(cls, pair) -> "PairSpec":
        return cls(pair.symbol, pair.pair_type, pair.price_precision, pair.quantity_precision)

    @property
    def price_step(self) -> Decimal:
        return Decimal(1).scaleb(-self.price_precision)

    @property
    def quantity_step(self) -> Decimal:
        return Decimal(1).scaleb(-self.quantity_precision)


class MarketFeed(ABC):
    """Quotes, order books and candles for the pairs it was told about."""

    #: short name for logs and the MARKET_FEED setting
    name = "base"

    def __init__(self, pairs: Iterable[PairSpec] = ()) -> None:
        self.pairs: dict[str, PairSpec] = {}
        self.set_pairs(pairs)

    def set_pairs(self, pairs: Iterable[PairSpec]) -> None:
        """Replace the pair specs (the runner calls this with the active trading pairs)."""
        self.pairs = {p.symbol: p for p in pairs}

    @abstractmethod
    def ticker(self, symbol: str) -> dict:
        """``{symbol, last, bid, ask, change_24h (percent), high_24h, low_24h, volume, timestamp}``."""

    @abstractmethod
    def order_book(self, symbol: str, depth: int = 10) -> dict:
        """``{symbol, bids: [[price, qty]…] best first (descending), asks: ascending, timestamp}``."""

    @abstractmethod
    def candles(self, symbol: str, timeframe: str = "1h", since: int | None = None, limit: int = 100) -> list[dict]:
        """OHLCV bars ``{timestamp (ms), open, high, low, close, volume}``, oldest first.

        ``since`` (epoch ms) gives the first bar; without it, the ``limit`` bars up to now.
        """


def json_safe(value):
    """Decimals to strings, datetimes to ISO strings, recursively: ready for Socket.IO and Redis."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
