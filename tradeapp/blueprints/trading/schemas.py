"""Marshmallow schemas of the trading API (pairs, quotes, candles, orders, trades, positions): shapes only.

Decimals go out as strings: prices to the pair's price precision, quantities to its quantity
precision, money (fees, notionals, P&L, values) to the quote currency's decimals. They come in
as strings or JSON numbers, read exactly as written (see :class:`DecimalInput`); the services
check the rules (sizes, precision, balances).
"""

import marshmallow as ma
from marshmallow import fields, validate

from tradeapp.blueprints.api import (  # noqa: F401 - ID_SCHEMA re-exported
    ID_SCHEMA,
    AmountField,
    IdField,
    PageArgsSchema,
)
from tradeapp.currencies import CurrencyError
from tradeapp.input_guards import ID_MAX
from tradeapp.market.base import TIMEFRAMES
from tradeapp.models.trading import ORDER_SIDES, ORDER_SOURCES, ORDER_STATUSES, ORDER_TYPES
from tradeapp.services.trading import pairs
from tradeapp.services.wallets import fmt

DECIMAL = {"type": "string", "description": "Decimal as a string."}

PERCENT = {"type": "string", "example": "0.1", "description": "Percent of the notional, as a string."}
PRICE = {"type": "string", "example": "95000.00", "description": "Decimal string, the pair's price precision."}
QUANTITY = {"type": "string", "example": "0.010000", "description": "Decimal string, the pair's quantity precision."}
MONEY = {"type": "string", "example": "1.90", "description": "Decimal string in the quote currency's precision."}


# -- formatting ----------------------------------------------------------------------------------


def _unsigned_zero(text: str | None) -> str | None:
    """``-0.00`` (e.g. 0 × a negative price move) reads as ``0.00``."""
    if text is not None and text.startswith("-") and not text.strip("-0."):
        return text[1:]
    return text


def price_str(pair, value) -> str | None:
    return _unsigned_zero(pairs.dec_str(value, pair.price_precision))


def quantity_str(pair, value) -> str | None:
    return _unsigned_zero(pairs.dec_str(value, pair.quantity_precision))


def money_str(pair, value) -> str | None:
    """An amount in the pair's quote currency; unknown currencies keep every digit."""
    if value is None:
        return None
    try:
        return _unsigned_zero(fmt(value, pair.quote_currency))
    except CurrencyError:
        return _unsigned_zero(pairs.dec_str(value))


def _nullable(meta: dict, description: str | None = None) -> dict:
    out = {**meta, "nullable": True}
    if description:
        out["description"] = description
    return out


# -- market data -----------------------------------------------------------------------------------


class TradingPairSchema(ma.Schema):
    """A market customers can trade (the seed's TradingPairSerializer)."""

    id = fields.Integer(dump_only=True)
    symbol = fields.String(dump_only=True, metadata={"example": "BTC/USD"})
    base_currency = fields.String(dump_only=True, metadata={"example": "BTC"})
    quote_currency = fields.String(dump_only=True, metadata={"example": "USD"})
    market_type = fields.String(
        attribute="pair_type",
        dump_only=True,
        metadata={"enum": list(pairs.PAIR_TYPES), "description": "The seed's name."},
    )
    pair_type = fields.String(
        dump_only=True, metadata={"enum": list(pairs.PAIR_TYPES), "description": "Same as `market_type`."}
    )
    is_active = fields.Boolean(dump_only=True)
    min_order_size = fields.Function(lambda p: quantity_str(p, p.min_order_size), dump_only=True, metadata=DECIMAL)
    max_order_size = fields.Function(lambda p: quantity_str(p, p.max_order_size), dump_only=True, metadata=DECIMAL)
    price_precision = fields.Integer(dump_only=True, metadata={"description": "Decimal places of prices."})
    quantity_precision = fields.Integer(dump_only=True, metadata={"description": "Decimal places of quantities."})
    trading_fee_percentage = fields.Function(
        lambda p: pairs.dec_str(p.taker_fee),
        dump_only=True,
        metadata={**PERCENT, "description": "The fee a market order pays: percent of the notional (the taker fee)."},
    )
    maker_fee = fields.Function(lambda p: pairs.dec_str(p.maker_fee), dump_only=True, metadata=PERCENT)
    taker_fee = fields.Function(lambda p: pairs.dec_str(p.taker_fee), dump_only=True, metadata=PERCENT)


class MarketDataSchema(ma.Schema):
    """The latest quote of a pair (the seed's get_ticker, plus the quote's time)."""

    symbol = fields.String(metadata={"example": "BTC/USD"})
    last_price = fields.String(allow_none=True, metadata=DECIMAL)
    bid = fields.String(allow_none=True, metadata=DECIMAL)
    ask = fields.String(allow_none=True, metadata=DECIMAL)
    volume = fields.String(allow_none=True, metadata={**DECIMAL, "description": "24-hour volume in the base currency."})
    change_24h = fields.String(allow_none=True, metadata={**DECIMAL, "description": "24-hour change in percent."})
    high_24h = fields.String(allow_none=True, metadata=DECIMAL)
    low_24h = fields.String(allow_none=True, metadata=DECIMAL)
    timestamp = fields.String(allow_none=True, metadata={"format": "date-time", "description": "When quoted (UTC)."})


class CandleArgsSchema(ma.Schema):
    """``?timeframe=&limit=``."""

    timeframe = fields.String(load_default="1h", validate=validate.OneOf(list(TIMEFRAMES)))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=pairs.MAX_CANDLES))

    class Meta:
        unknown = ma.EXCLUDE


class CandlesSchema(ma.Schema):
    """OHLCV bars, oldest first: ``[epoch ms, open, high, low, close, volume]`` (prices as strings)."""

    symbol = fields.String(metadata={"example": "BTC/USD"})
    timeframe = fields.String(metadata={"enum": list(TIMEFRAMES)})
    candles = fields.List(
        fields.Raw(),
        metadata={
            "items": {"type": "array", "items": {}, "minItems": 6, "maxItems": 6},
            "example": [[1767225600000, "95000.00", "95210.50", "94800.00", "95100.25", "12.345678"]],
        },
    )


# -- input ---------------------------------------------------------------------------------------------


def DecimalInput(**kwargs) -> AmountField:  # noqa: N802 - reads as the field class it was
    """A quantity or price: see :class:`AmountField` (up to 18 decimals here: pairs set their own)."""
    return AmountField(decimals=18, **kwargs)


class OrderCreateSchema(ma.Schema):
    """``POST /orders/``: the pair by ``trading_pair`` (id) or ``symbol``, then what to do."""

    trading_pair = IdField(
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "The pair's id, a number or a numeric string (or send `symbol`).", "example": 1},
    )
    symbol = fields.String(
        validate=validate.Length(min=1, max=21),
        metadata={"description": "The pair as `BTC-USD` or `BTC/USD` (or send `trading_pair`).", "example": "BTC-USD"},
    )
    # Values are checked by the service with the other fields, so one answer lists every problem.
    order_type = fields.String(required=True, metadata={"enum": list(ORDER_TYPES)})
    side = fields.String(required=True, metadata={"enum": list(ORDER_SIDES)})
    quantity = DecimalInput(
        required=True,
        metadata={"example": "0.01", "description": "In the base currency; within the pair's min/max size."},
    )
    price = DecimalInput(
        allow_none=True,
        metadata={"example": "95000.00", "description": "The limit price; required for limit orders."},
    )
    stop_price = DecimalInput(
        allow_none=True,
        metadata={"example": "90000.00", "description": "The trigger; required for stop_loss and take_profit orders."},
    )

    @ma.validates_schema
    def names_a_pair(self, data, **kwargs):
        if data.get("trading_pair") is None and not (data.get("symbol") or "").strip():
            message = "Send the pair's trading_pair id or its symbol (e.g. BTC-USD)."
            raise ma.ValidationError({"trading_pair": [message], "symbol": [message]})


class PositionProtectionSchema(ma.Schema):
    """``PATCH /positions/{id}/``: a price sets the level; null or "" clears it; a missing key keeps it."""

    stop_loss = DecimalInput(
        allow_none=True,
        allow_blank=True,
        metadata={"example": "90000.00", "description": "Sell everything when the bid falls to this price."},
    )
    take_profit = DecimalInput(
        allow_none=True,
        allow_blank=True,
        metadata={"example": "110000.00", "description": "Sell everything when the bid rises to this price."},
    )

    @ma.validates_schema
    def something_to_change(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Send stop_loss and/or take_profit (null clears one).")


class OrderFilterSchema(PageArgsSchema):
    """``GET /orders/?status=&symbol=``."""

    status = fields.String(validate=validate.OneOf(ORDER_STATUSES))
    symbol = fields.String(metadata={"example": "BTC-USD"})


class TradeFilterSchema(PageArgsSchema):
    """``GET /trades/?symbol=&order=``."""

    symbol = fields.String(metadata={"example": "BTC-USD"})
    order = fields.Integer(
        validate=validate.Range(min=1, max=ID_MAX), metadata={"description": "Only the fills of this order of yours."}
    )


class PositionFilterSchema(PageArgsSchema):
    """``GET /positions/?all=1``."""

    include_closed = fields.Boolean(
        data_key="all", load_default=False, metadata={"description": "Include closed positions (quantity 0)."}
    )


# -- output --------------------------------------------------------------------------------------------


class OrderSchema(ma.Schema):
    """An order (the seed's OrderSerializer, plus symbol, status_reason and remaining_quantity)."""

    id = fields.Integer(dump_only=True)
    trading_pair = fields.Integer(attribute="pair_id", dump_only=True, metadata={"description": "The pair's id."})
    trading_pair_detail = fields.Nested(TradingPairSchema, attribute="pair", dump_only=True)
    symbol = fields.Function(lambda o: o.pair.symbol, dump_only=True, metadata={"type": "string", "example": "BTC/USD"})
    order_type = fields.String(dump_only=True, metadata={"enum": list(ORDER_TYPES)})
    side = fields.String(dump_only=True, metadata={"enum": list(ORDER_SIDES)})
    quantity = fields.Function(lambda o: quantity_str(o.pair, o.quantity), dump_only=True, metadata=QUANTITY)
    price = fields.Function(
        lambda o: price_str(o.pair, o.price), dump_only=True, metadata=_nullable(PRICE, "The limit price.")
    )
    stop_price = fields.Function(
        lambda o: price_str(o.pair, o.stop_price), dump_only=True, metadata=_nullable(PRICE, "The trigger price.")
    )
    filled_quantity = fields.Function(
        lambda o: quantity_str(o.pair, o.filled_quantity), dump_only=True, metadata=QUANTITY
    )
    remaining_quantity = fields.Function(
        lambda o: quantity_str(o.pair, o.remaining_quantity),
        dump_only=True,
        metadata={**QUANTITY, "description": "quantity − filled_quantity."},
    )
    average_price = fields.Function(
        lambda o: price_str(o.pair, o.average_price),
        dump_only=True,
        metadata=_nullable(PRICE, "Volume-weighted price of the fills so far."),
    )
    status = fields.String(dump_only=True, metadata={"enum": list(ORDER_STATUSES)})
    status_reason = fields.String(
        dump_only=True, metadata={"description": "Why it was rejected, or why its rest was cancelled."}
    )
    fee = fields.Function(
        lambda o: money_str(o.pair, o.fee), dump_only=True, metadata={**MONEY, "description": "Fees so far (quote)."}
    )
    source = fields.String(
        dump_only=True,
        metadata={
            "enum": list(ORDER_SOURCES),
            "description": "The seed's `manual`, `bot`, `copy_trade`, `signal`, plus `loan` (placed by the loans "
            "domain). Closing a position places a `manual` order with `position` set.",
        },
    )
    position = fields.Integer(
        attribute="position_id",
        dump_only=True,
        allow_none=True,
        metadata={"description": "The position this order closes (null for other orders)."},
    )
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)
    executed_at = fields.DateTime(dump_only=True, allow_none=True, metadata={"description": "When it was filled."})


class TradeSchema(ma.Schema):
    """One fill (the seed's TradeSerializer, plus symbol, side, notional, liquidity and realized_pnl)."""

    id = fields.Integer(dump_only=True)
    order = fields.Integer(attribute="order_id", dump_only=True, metadata={"description": "The order's id."})
    order_detail = fields.Nested(OrderSchema, attribute="order", dump_only=True)
    symbol = fields.Function(lambda t: t.pair.symbol, dump_only=True, metadata={"type": "string", "example": "BTC/USD"})
    side = fields.String(dump_only=True, metadata={"enum": list(ORDER_SIDES)})
    quantity = fields.Function(lambda t: quantity_str(t.pair, t.quantity), dump_only=True, metadata=QUANTITY)
    price = fields.Function(lambda t: price_str(t.pair, t.price), dump_only=True, metadata=PRICE)
    notional = fields.Function(
        lambda t: money_str(t.pair, t.notional),
        dump_only=True,
        metadata={**MONEY, "description": "quantity × price (quote)."},
    )
    fee = fields.Function(lambda t: money_str(t.pair, t.fee), dump_only=True, metadata=MONEY)
    liquidity = fields.String(dump_only=True, metadata={"enum": ["maker", "taker"]})
    realized_pnl = fields.Function(
        lambda t: money_str(t.pair, t.realized_pnl),
        dump_only=True,
        metadata=_nullable(MONEY, "Profit or loss this sell realised on the position (null for buys)."),
    )
    executed_at = fields.DateTime(dump_only=True)
    external_trade_id = fields.String(dump_only=True)


class ValuedPosition:
    """A position with its valuation at the current price (what :class:`PositionSchema` dumps)."""

    def __init__(self, position, valuation: dict):
        self.position = position
        self.valuation = valuation

    def __getattr__(self, name):
        valuation = self.__dict__.get("valuation") or {}
        if name in valuation:
            return valuation[name]
        return getattr(self.__dict__["position"], name)


class PositionSchema(ma.Schema):
    """A position (the seed's PositionSerializer, plus symbol, realized_pnl and market_value).

    ``current_price``, ``unrealized_pnl`` and ``market_value`` are null when there is no price.
    """

    id = fields.Integer(dump_only=True)
    trading_pair = fields.Integer(attribute="pair_id", dump_only=True, metadata={"description": "The pair's id."})
    trading_pair_detail = fields.Nested(TradingPairSchema, attribute="pair", dump_only=True)
    symbol = fields.Function(lambda p: p.pair.symbol, dump_only=True, metadata={"type": "string", "example": "BTC/USD"})
    side = fields.String(dump_only=True, metadata={"enum": ["long"], "description": "Spot positions are long."})
    quantity = fields.Function(
        lambda p: quantity_str(p.pair, p.quantity), dump_only=True, metadata={**QUANTITY, "description": "0 = closed."}
    )
    entry_price = fields.Function(
        lambda p: price_str(p.pair, p.entry_price),
        dump_only=True,
        metadata={**PRICE, "description": "Volume-weighted average price of what is held."},
    )
    current_price = fields.Function(
        lambda p: price_str(p.pair, p.current_price),
        dump_only=True,
        metadata=_nullable(PRICE, "The price it would sell at now (the bid)."),
    )
    market_value = fields.Function(
        lambda p: money_str(p.pair, p.market_value),
        dump_only=True,
        metadata=_nullable(MONEY, "quantity × current_price (quote)."),
    )
    unrealized_pnl = fields.Function(
        lambda p: money_str(p.pair, p.unrealized_pnl),
        dump_only=True,
        metadata=_nullable(MONEY, "(current_price − entry_price) × quantity (quote)."),
    )
    realized_pnl = fields.Function(
        lambda p: money_str(p.pair, p.realized_pnl),
        dump_only=True,
        metadata={**MONEY, "description": "Profit or loss realised by sells so far (quote)."},
    )
    leverage = fields.Function(
        lambda p: pairs.dec_str(p.leverage, 2), dump_only=True, metadata={**DECIMAL, "example": "1.00"}
    )
    stop_loss = fields.Function(lambda p: price_str(p.pair, p.stop_loss), dump_only=True, metadata=_nullable(PRICE))
    take_profit = fields.Function(lambda p: price_str(p.pair, p.take_profit), dump_only=True, metadata=_nullable(PRICE))
    opened_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class PositionClosedSchema(ma.Schema):
    """``POST /positions/{id}/close/``: the seed's ``{"message", "order"}``."""

    message = fields.String(dump_only=True, metadata={"example": "Position closed"})
    order = fields.Nested(OrderSchema, dump_only=True)
