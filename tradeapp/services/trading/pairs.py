"""Trading pairs: staff create, edit, activate and deactivate them; market data reads their feed.

Every change is validated here (whatever the caller: page or API) and audited with before/after.
Market data comes from the feed process's last quote; without one (nothing published yet, or no
Redis), the configured feed is asked directly — in embedded mode that is the simulated feed.
"""

import re
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, select

from tradeapp.amounts import AmountError, parse_decimal
from tradeapp.currencies import CURRENCIES
from tradeapp.errors import DomainError, NotFound, ValidationFailed
from tradeapp.extensions import db
from tradeapp.market.base import TIMEFRAMES, MarketFeed, PairSpec, UnknownSymbol, json_safe
from tradeapp.market.runner import build_feed
from tradeapp.market.state import EXTENSION_KEY, last_quote
from tradeapp.models import TradingPair, User
from tradeapp.services import audit
from tradeapp.services.trading import candles as stored_candles
from tradeapp.services.uow import unit_of_work

MANAGE = "products.manage"
PAIR_TYPES = ("crypto", "forex")
MAX_FEE = Decimal("5")
MAX_PRECISION = 12
#: the largest order size we accept (the column is NUMERIC(36, 18))
MAX_SIZE = Decimal("1000000000000")
MAX_CANDLES = 1000
FEED_KEY = "tradeapp.pairs.feed"

SYMBOL_RE = re.compile(r"^([A-Z0-9]{2,10})/([A-Z0-9]{2,10})$")
#: ccxt exchange ids are lower-case letters and digits (binance, kraken, coinbase, okx, gateio…)
EXCHANGE_RE = re.compile(r"^[a-z][a-z0-9]{1,39}$")
FEED_SYMBOL_RE = re.compile(r"^[A-Za-z0-9]{1,15}/[A-Za-z0-9]{1,15}(:[A-Za-z0-9]{1,15})?$")

#: fields staff may edit (symbol and currencies are fixed once a pair exists)
EDITABLE = (
    "pair_type",
    "min_order_size",
    "max_order_size",
    "price_precision",
    "quantity_precision",
    "maker_fee",
    "taker_fee",
    "feed_exchange",
    "feed_symbol",
    "is_active",
)


class MarketDataUnavailable(DomainError):
    status = 503
    code = "market_data_unavailable"


# -- reading -------------------------------------------------------------------------------------


def pairs_query(active_only: bool = True):
    """Pairs by symbol; only the active ones unless ``active_only`` is false."""
    query = select(TradingPair).order_by(TradingPair.symbol)
    return query.where(TradingPair.is_active) if active_only else query


def all_pairs() -> list[TradingPair]:
    return list(db.session.scalars(pairs_query(active_only=False)))


def from_url_symbol(url_symbol: str) -> str:
    """``BTC-USD`` → ``BTC/USD`` (a slash is accepted too)."""
    return (url_symbol or "").strip().upper().replace("-", "/")


def get_pair(url_symbol: str, active_only: bool = True) -> TradingPair:
    """The pair named ``BTC-USD`` (or ``BTC/USD``); NotFound if unknown or, by default, inactive."""
    symbol = from_url_symbol(url_symbol)
    pair = db.session.scalar(select(TradingPair).where(TradingPair.symbol == symbol))
    if pair is None or (active_only and not pair.is_active):
        raise NotFound(f"No active trading pair {symbol}.")
    return pair


def dec_str(value: Decimal | None, places: int | None = None) -> str | None:
    """A Decimal as plain text: quantized to ``places``, else without trailing zeros."""
    if value is None:
        return None
    value = Decimal(value)
    if places is not None:
        return format(value.quantize(Decimal(1).scaleb(-places)), "f")
    text = format(value.normalize(), "f")
    return text


def snapshot(pair: TradingPair) -> dict:
    """The pair's settings as JSON-safe values (for the audit log and the API)."""
    return {
        "symbol": pair.symbol,
        "base_currency": pair.base_currency,
        "quote_currency": pair.quote_currency,
        "pair_type": pair.pair_type,
        "is_active": bool(pair.is_active),
        "min_order_size": dec_str(pair.min_order_size, pair.quantity_precision),
        "max_order_size": dec_str(pair.max_order_size, pair.quantity_precision),
        "price_precision": pair.price_precision,
        "quantity_precision": pair.quantity_precision,
        "maker_fee": dec_str(pair.maker_fee),
        "taker_fee": dec_str(pair.taker_fee),
        "feed_exchange": pair.feed_exchange,
        "feed_symbol": pair.feed_symbol,
    }


# -- validation ----------------------------------------------------------------------------------


def _decimal(value, name: str, errors: dict) -> Decimal | None:
    """A decimal in the one amount grammar (:mod:`tradeapp.amounts`), or its negative (the range checks refuse it)."""
    if value is None or (isinstance(value, str) and not value.strip(" ")):
        errors.setdefault(name, []).append("This field is required.")
        return None
    try:
        if isinstance(value, str) and value.strip(" ").startswith("-"):
            return -parse_decimal(value.strip(" ")[1:], allow_zero=True)
        return parse_decimal(value, allow_zero=True)
    except AmountError as exc:
        errors.setdefault(name, []).append(str(exc))
        return None


def _integer(value, name: str, errors: dict) -> int | None:
    if isinstance(value, bool):
        errors.setdefault(name, []).append("Enter a whole number.")
        return None
    if isinstance(value, int):
        result = value
    else:
        text = str(value if value is not None else "").strip(" ")
        if not text.isascii() or not text.isdigit() or len(text) > 3:
            errors.setdefault(name, []).append("Enter a whole number.")
            return None
        result = int(text)
    if not 0 <= result <= MAX_PRECISION:
        errors.setdefault(name, []).append(f"Between 0 and {MAX_PRECISION}.")
        return None
    return result


def _clean(data: dict, pair: TradingPair | None) -> dict:
    """Typed, checked values from ``data`` (strings or typed); ValidationFailed with every field's errors."""
    errors: dict[str, list[str]] = {}
    current = snapshot(pair) if pair is not None else {}

    def given(name, default=None):
        return data[name] if name in data else current.get(name, default)

    clean: dict = {}
    if pair is None:
        symbol = str(data.get("symbol") or "").strip().upper().replace("-", "/")
        match = SYMBOL_RE.match(symbol)
        if not match:
            errors.setdefault("symbol", []).append("Write it as BASE/QUOTE, e.g. BTC/USD.")
        else:
            base, quote = match.groups()
            for code in (base, quote):
                if code not in CURRENCIES:
                    known = ", ".join(CURRENCIES)
                    errors.setdefault("symbol", []).append(f"Unknown currency {code} (known: {known}).")
            if base == quote:
                errors.setdefault("symbol", []).append("Base and quote must differ.")
            if db.session.scalar(select(TradingPair.id).where(func.upper(TradingPair.symbol) == symbol)):
                errors.setdefault("symbol", []).append(f"{symbol} already exists.")
            clean.update(symbol=symbol, base_currency=base, quote_currency=quote)

    pair_type = str(given("pair_type", "") or "").strip()
    if pair_type not in PAIR_TYPES:
        errors.setdefault("pair_type", []).append("Choose crypto or forex.")
    clean["pair_type"] = pair_type

    for name in ("maker_fee", "taker_fee"):
        fee = _decimal(given(name), name, errors)
        if fee is not None and not Decimal(0) <= fee <= MAX_FEE:
            errors.setdefault(name, []).append(f"A percentage between 0 and {MAX_FEE}.")
        elif fee is not None and fee != fee.quantize(Decimal("0.000001")):
            errors.setdefault(name, []).append("At most 6 decimal places.")
        clean[name] = fee

    for name in ("price_precision", "quantity_precision"):
        clean[name] = _integer(given(name), name, errors)

    min_size = _decimal(given("min_order_size"), "min_order_size", errors)
    max_size = _decimal(given("max_order_size"), "max_order_size", errors)
    qp = clean["quantity_precision"]
    for name, size in (("min_order_size", min_size), ("max_order_size", max_size)):
        if size is None:
            continue
        if size <= 0:
            errors.setdefault(name, []).append("Must be greater than zero.")
        elif size > MAX_SIZE:
            errors.setdefault(name, []).append(f"At most {MAX_SIZE:,}.")
        elif qp is not None and size != size.quantize(Decimal(1).scaleb(-qp)):
            errors.setdefault(name, []).append(f"At most {qp} decimal places (the quantity precision).")
    if min_size is not None and max_size is not None and min_size > 0 and max_size < min_size:
        errors.setdefault("max_order_size", []).append("Must be at least the minimum order size.")
    clean.update(min_order_size=min_size, max_order_size=max_size)

    exchange = str(given("feed_exchange", "") or "").strip().lower()
    if not EXCHANGE_RE.match(exchange):
        errors.setdefault("feed_exchange", []).append("'simulated' or a ccxt exchange id (letters and digits).")
    clean["feed_exchange"] = exchange

    feed_symbol = str(given("feed_symbol", "") or "").strip().upper()
    if not feed_symbol:
        feed_symbol = clean.get("symbol") or (pair.symbol if pair is not None else "")
    if not FEED_SYMBOL_RE.match(feed_symbol):
        errors.setdefault("feed_symbol", []).append("The exchange's symbol, e.g. BTC/USDT.")
    clean["feed_symbol"] = feed_symbol

    active = given("is_active", True)
    if isinstance(active, str):
        active = active.strip().lower() in ("1", "true", "y", "yes", "on")
    clean["is_active"] = bool(active)

    if errors:
        raise ValidationFailed("Please correct the highlighted fields.", errors)
    return clean


# -- changing ------------------------------------------------------------------------------------


def create_pair(actor: User, data: dict) -> TradingPair:
    """Add a pair (validated, audited); one unit of work."""
    clean = _clean(data, None)
    with unit_of_work():
        pair = TradingPair(**clean)
        db.session.add(pair)
        db.session.flush()
        audit.record(actor, "pair.create", pair, after=snapshot(pair))
    return pair


def update_pair(actor: User, pair: TradingPair, data: dict) -> TradingPair:
    """Change a pair's settings (only the keys given; the rest stay); audited with before/after."""
    with unit_of_work():
        before = snapshot(pair)
        clean = _clean({k: v for k, v in data.items() if k in EDITABLE}, pair)
        for name in EDITABLE:
            setattr(pair, name, clean[name])
        after = snapshot(pair)
        if after == before:
            return pair
        changed = {k for k in after if after[k] != before[k]}
        audit.record(
            actor,
            "pair.update",
            pair,
            before={k: before[k] for k in sorted(changed)},
            after={k: after[k] for k in sorted(changed)},
        )
    return pair


def set_active(actor: User, pair: TradingPair, active: bool) -> TradingPair:
    """Open or close a pair for trading; audited."""
    if bool(pair.is_active) == bool(active):
        return pair
    with unit_of_work():
        pair.is_active = bool(active)
        audit.record(
            actor,
            "pair.activate" if active else "pair.deactivate",
            pair,
            before={"is_active": not active},
            after={"is_active": bool(active)},
        )
    return pair


# -- market data ---------------------------------------------------------------------------------


def market_feed() -> MarketFeed:
    """The running feed of this process, or one built from MARKET_FEED (kept for the app's life)."""
    app = current_app._get_current_object()
    runner = app.extensions.get(EXTENSION_KEY)
    if runner is not None:
        return runner.feed
    feed = app.extensions.get(FEED_KEY)
    if feed is None:
        feed = app.extensions[FEED_KEY] = build_feed(app)
    return feed


def feed_for(pair: TradingPair) -> MarketFeed:
    """The feed that prices ``pair`` (told about the pair if it did not know it)."""
    feed = market_feed()
    if pair.symbol not in feed.pairs:
        feed.set_pairs([*feed.pairs.values(), PairSpec.from_model(pair)])
    return feed


def cached_quote(pair: TradingPair) -> dict | None:
    """The feed process's last quote for ``pair``, or None (never asks the exchange)."""
    try:
        return last_quote(pair.symbol)
    except Exception:  # noqa: BLE001 - Redis down: the page still renders, without prices
        current_app.logger.warning("last quote of %s unavailable", pair.symbol, exc_info=True)
        return None


def market_data(pair: TradingPair) -> dict:
    """``{symbol, last_price, bid, ask, volume, change_24h, high_24h, low_24h, timestamp}`` as strings."""
    quote = cached_quote(pair)
    if quote is None:
        try:
            quote = json_safe(feed_for(pair).ticker(pair.symbol))
        except UnknownSymbol:
            raise MarketDataUnavailable(f"No market data for {pair.symbol}.") from None
        except Exception as exc:  # noqa: BLE001 - an exchange error is a 503, not a 500
            current_app.logger.warning("ticker of %s failed: %s", pair.symbol, exc)
            raise MarketDataUnavailable(f"Market data for {pair.symbol} is unavailable right now.") from None
    return {
        "symbol": pair.symbol,
        "last_price": quote.get("last"),
        "bid": quote.get("bid"),
        "ask": quote.get("ask"),
        "volume": quote.get("volume"),
        "change_24h": quote.get("change_24h"),
        "high_24h": quote.get("high_24h"),
        "low_24h": quote.get("low_24h"),
        "timestamp": quote.get("timestamp"),
    }


def candles(pair: TradingPair, timeframe: str = "1h", limit: int = 100) -> dict:
    """``{symbol, timeframe, candles: [[ms, open, high, low, close, volume]…]}``, values as strings."""
    errors = {}
    if timeframe not in TIMEFRAMES:
        errors["timeframe"] = [f"One of {', '.join(TIMEFRAMES)}."]
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_CANDLES:
        errors["limit"] = [f"Between 1 and {MAX_CANDLES}."]
    if errors:
        raise ValidationFailed("Invalid input.", errors)

    bars = stored_candles.stored(pair, timeframe, limit)
    if stored_candles.is_current(bars, timeframe, limit):
        return _candle_rows(pair, timeframe, bars)
    try:
        bars = feed_for(pair).candles(pair.symbol, timeframe, limit=limit)
    except UnknownSymbol:
        raise MarketDataUnavailable(f"No market data for {pair.symbol}.") from None
    except Exception as exc:  # noqa: BLE001
        current_app.logger.warning("candles of %s failed: %s", pair.symbol, exc)
        raise MarketDataUnavailable(f"Candles for {pair.symbol} are unavailable right now.") from None
    return _candle_rows(pair, timeframe, bars)


def _candle_rows(pair: TradingPair, timeframe: str, bars: list[dict]) -> dict:
    price, quantity = pair.price_precision, pair.quantity_precision
    rows = [
        [
            int(b["timestamp"]),
            *(dec_str(b[k], price) for k in ("open", "high", "low", "close")),
            dec_str(b["volume"], quantity),
        ]
        for b in bars
    ]
    return {"symbol": pair.symbol, "timeframe": timeframe, "candles": rows}
