"""The one price source: quotes and order books to trade on, and conversions between currencies.

The feed process publishes a quote and a book per active pair every FEED_INTERVAL seconds (in
this process in embedded mode, else through Redis; see ``tradeapp.market.runner``). Orders
execute against them. A pair whose last tick is older than FEED_STALE_SECONDS, or whose feed is
failing, is stale: orders on it are refused rather than filled at old prices. Without any
published tick (tests, a web process with no feed running), the configured feed is asked directly.

:func:`rate` and :func:`convert` value any amount in any currency at the same live prices (a
direct pair, its inverse, or through USD), with a ``stale`` flag instead of a refusal: the
wallets page, position totals, withdrawal limits and the coming domains (loan LTV, copy sizing,
referral payouts) read them. A currency no market prices converts to None.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from flask import current_app

from tradeapp.currencies import get_currency
from tradeapp.errors import Conflict
from tradeapp.market.base import UnknownSymbol, json_safe
from tradeapp.market.state import last_book, last_quote, pair_status
from tradeapp.models import TradingPair
from tradeapp.services.trading.pairs import MarketDataUnavailable, all_pairs, feed_for, market_feed

QUOTE_FIELDS = ("last", "bid", "ask", "change_24h", "high_24h", "low_24h", "volume")


class MarketStale(Conflict):
    """The pair's prices are too old to trade on."""

    code = "market_stale"


def _decimal(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _stale_after() -> float:
    """Seconds (a duration, not money)."""
    return current_app.config["FEED_STALE_SECONDS"]


def _received_at(raw: dict | None) -> float:
    """When the feed received a quote or book: epoch seconds (0 when unknown)."""
    return float((raw or {}).get("received_at") or 0)


def _published(pair: TradingPair) -> dict | None:
    try:
        return last_quote(pair.symbol)
    except Exception:  # noqa: BLE001 - Redis down: fall back to the feed
        current_app.logger.warning("last quote of %s unavailable", pair.symbol, exc_info=True)
        return None


def _from_feed(pair: TradingPair, what: str, *args) -> dict:
    try:
        feed = feed_for(pair)
        data = json_safe(feed.ticker(pair.symbol) if what == "ticker" else feed.order_book(pair.symbol, *args))
    except UnknownSymbol:
        raise MarketDataUnavailable(f"No market data for {pair.symbol}.") from None
    except Exception as exc:  # noqa: BLE001 - an exchange error is a 503, not a 500
        current_app.logger.warning("%s of %s failed: %s", what, pair.symbol, exc)
        raise MarketDataUnavailable(f"Market data for {pair.symbol} is unavailable right now.") from None
    data["received_at"] = time.time()
    return data


_UNREAD = object()


def _stale_reason(pair: TradingPair, quote: dict | None, status=_UNREAD) -> str | None:
    if status is _UNREAD:
        status = pair_status(pair.symbol)
    if status and status.get("failures"):
        return f"The price feed for {pair.symbol} is failing; trading resumes when prices are fresh again."
    if quote is not None:
        age = time.time() - _received_at(quote)
        if age > _stale_after():
            return f"Prices for {pair.symbol} are {age:.0f} s old; trading resumes when they are fresh again."
    return None


def is_stale(pair: TradingPair) -> bool:
    """True when the pair's last published prices are too old or its feed is failing."""
    try:
        return _stale_reason(pair, _published(pair)) is not None
    except Exception:  # noqa: BLE001
        return True


def live_quote(pair: TradingPair, *, fresh: bool = True) -> dict:
    """The pair's current quote: prices as Decimals, ``timestamp`` (ISO) and ``received_at`` (epoch s).

    One side may be None when the book is empty on that side.

    :raise MarketStale: when ``fresh`` and the prices are too old or the feed is failing
    :raise MarketDataUnavailable: when there is no price at all
    """
    return _quote_from(pair, _published(pair), fresh)


def _quote_from(pair: TradingPair, raw: dict | None, fresh: bool, status=_UNREAD) -> dict:
    if fresh:
        reason = _stale_reason(pair, raw, status)
        if reason:
            raise MarketStale(reason)
    if raw is None:
        raw = _from_feed(pair, "ticker")
    quote = {key: _decimal(raw.get(key)) for key in QUOTE_FIELDS}
    if quote["bid"] is None and quote["ask"] is None:
        raise MarketDataUnavailable(f"No bid or ask for {pair.symbol} right now.")
    quote.update(symbol=pair.symbol, timestamp=raw.get("timestamp"), received_at=_received_at(raw))
    return quote


def live_book(pair: TradingPair, depth: int = 20, *, fresh: bool = True) -> dict:
    """The pair's order book: ``bids`` (best first, descending) and ``asks`` (ascending) as Decimals.

    :raise MarketStale: when ``fresh`` and the book is too old or the feed is failing
    """
    raw = None
    try:
        raw = last_book(pair.symbol)
    except Exception:  # noqa: BLE001 - Redis down: fall back to the feed
        current_app.logger.warning("last book of %s unavailable", pair.symbol, exc_info=True)
    return _book_from(pair, raw, depth, fresh)


def _book_from(pair: TradingPair, raw: dict | None, depth: int, fresh: bool, status=_UNREAD) -> dict:
    if fresh:
        reason = _stale_reason(pair, raw, status)
        if reason:
            raise MarketStale(reason)
    if raw is None:
        raw = _from_feed(pair, "book", depth)

    def levels(rows) -> list[list[Decimal]]:
        return [[Decimal(str(p)), Decimal(str(q))] for p, q in rows[:depth]]

    return {
        "symbol": pair.symbol,
        "bids": levels(raw.get("bids") or []),
        "asks": levels(raw.get("asks") or []),
        "timestamp": raw.get("timestamp"),
        "received_at": _received_at(raw),
    }


def live_quote_and_book(pair: TradingPair, depth: int = 20, *, fresh: bool = True) -> tuple[dict, dict]:
    """:func:`live_quote` and :func:`live_book` (a market order's), reading the feed's status once for both."""
    status = pair_status(pair.symbol) if fresh else None
    quote = _quote_from(pair, _published(pair), fresh, status)
    raw = None
    try:
        raw = last_book(pair.symbol)
    except Exception:  # noqa: BLE001 - Redis down: fall back to the feed
        current_app.logger.warning("last book of %s unavailable", pair.symbol, exc_info=True)
    return quote, _book_from(pair, raw, depth, fresh, status)


def feed_status() -> list[dict]:
    """Per pair: last tick time and age, stale flag and consecutive feed failures (staff page)."""
    rows = []
    now = time.time()
    for pair in all_pairs():
        quote = _published(pair)
        status = pair_status(pair.symbol) or {}
        received = _received_at(quote) or None
        age = now - received if received else None
        rows.append(
            {
                "symbol": pair.symbol,
                "is_active": bool(pair.is_active),
                "last_tick": datetime.fromtimestamp(received, UTC) if received else None,
                "age_seconds": age,
                "stale": bool(status.get("failures")) or (age is not None and age > _stale_after()),
                # every failure of the feed process counts: quotes and stored candles
                "failures": int(status.get("failures") or 0) + int(status.get("candle_failures") or 0),
                "quote_failures": int(status.get("failures") or 0),
                "candle_failures": int(status.get("candle_failures") or 0),
                "last_error": status.get("last_error")
                or (f"candles: {status['last_candle_error']}" if status.get("last_candle_error") else ""),
            }
        )
    return rows


# -- conversions -----------------------------------------------------------------------------------

#: the currency conversions go through when no pair links two currencies directly
PIVOT = "USD"


@dataclass(frozen=True)
class Rate:
    """What one unit of ``base`` is worth in ``quote``; ``stale`` when a price it rests on is old."""

    base: str
    quote: str
    value: Decimal
    stale: bool = False


@dataclass(frozen=True)
class Converted:
    """An amount converted at ``rate``, rounded half up to the target currency's precision."""

    amount: Decimal
    currency: str
    rate: Rate

    @property
    def stale(self) -> bool:
        return self.rate.stale


def _symbol_last(symbol: str) -> tuple[Decimal, bool] | None:
    """The last price of ``symbol`` and whether it is stale; None when no market prices it."""
    try:
        raw = last_quote(symbol)
    except Exception:  # noqa: BLE001 - Redis down: ask the feed
        current_app.logger.warning("last quote of %s unavailable", symbol, exc_info=True)
        raw = None
    if raw is not None and raw.get("last") not in (None, ""):
        status = pair_status(symbol) or {}
        stale = bool(status.get("failures")) or time.time() - _received_at(raw) > _stale_after()
        return Decimal(str(raw["last"])), stale
    try:
        feed = market_feed()
        if symbol not in feed.pairs and current_app.config.get("MARKET_FEED") != "simulated":
            return None  # a real exchange is only asked about the pairs routed to it
        last = feed.ticker(symbol).get("last")
    except Exception:  # noqa: BLE001 - an unknown symbol or an exchange error: no price
        return None
    return (Decimal(str(last)), False) if last not in (None, "") else None


def _direct(base: str, quote: str) -> Rate | None:
    found = _symbol_last(f"{base}/{quote}")
    if found is not None and found[0] > 0:
        return Rate(base, quote, found[0], found[1])
    found = _symbol_last(f"{quote}/{base}")
    if found is not None and found[0] > 0:
        return Rate(base, quote, 1 / found[0], found[1])
    return None


def rate(base: str, quote: str) -> Rate | None:
    """What one unit of ``base`` is worth in ``quote`` at live prices; None when no market prices it."""
    base, quote = get_currency(base).code, get_currency(quote).code
    if base == quote:
        return Rate(base, quote, Decimal(1))
    direct = _direct(base, quote)
    if direct is not None or PIVOT in (base, quote):
        return direct
    first, second = _direct(base, PIVOT), _direct(PIVOT, quote)
    if first is None or second is None:
        return None
    return Rate(base, quote, first.value * second.value, first.stale or second.stale)


def convert(amount: Decimal, base: str, quote: str, *, at: Rate | None = None) -> Converted | None:
    """``amount`` of ``base`` in ``quote`` (at ``at``, else the live :func:`rate`); None without a price."""
    found = at if at is not None else rate(base, quote)
    if found is None:
        return None
    quantum = get_currency(found.quote).quantum
    return Converted((Decimal(amount) * found.value).quantize(quantum, ROUND_HALF_UP), found.quote, found)
