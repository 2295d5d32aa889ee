"""Prices to trade on: the feed's last quote and order book per pair, refused when stale.

The feed process publishes a quote and a book per active pair every FEED_INTERVAL seconds (in
this process in embedded mode, else through Redis; see ``tradeapp.market.runner``). Orders
execute against them. A pair whose last tick is older than FEED_STALE_SECONDS, or whose feed is
failing, is stale: orders on it are refused rather than filled at old prices. Without any
published tick (tests, a web process with no feed running), the configured feed is asked directly.
"""

import time
from decimal import Decimal

from flask import current_app

from tradeapp.errors import Conflict
from tradeapp.market.base import UnknownSymbol, json_safe
from tradeapp.market.state import last_book, last_quote, pair_status
from tradeapp.models import TradingPair
from tradeapp.services.trading.pairs import MarketDataUnavailable, _feed_for

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
        feed = _feed_for(pair)
        data = json_safe(feed.ticker(pair.symbol) if what == "ticker" else feed.order_book(pair.symbol, *args))
    except UnknownSymbol:
        raise MarketDataUnavailable(f"No market data for {pair.symbol}.") from None
    except Exception as exc:  # noqa: BLE001 - an exchange error is a 503, not a 500
        current_app.logger.warning("%s of %s failed: %s", what, pair.symbol, exc)
        raise MarketDataUnavailable(f"Market data for {pair.symbol} is unavailable right now.") from None
    data["received_at"] = time.time()
    return data


def _stale_reason(pair: TradingPair, quote: dict | None) -> str | None:
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
    raw = _published(pair)
    if fresh:
        reason = _stale_reason(pair, raw)
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
    if fresh:
        reason = _stale_reason(pair, raw)
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


def feed_status() -> list[dict]:
    """Per pair: last tick time and age, stale flag and consecutive feed failures (staff page)."""
    from datetime import UTC, datetime

    from tradeapp.services.trading.pairs import all_pairs

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
                "failures": int(status.get("failures") or 0),
                "last_error": status.get("last_error") or "",
            }
        )
    return rows
