"""Public market data: trading pairs, the latest quote per pair, and OHLCV candles (no login needed)."""

import marshmallow as ma
from marshmallow import fields, validate

from tradeapp.blueprints.api import ApiBlueprint, PageArgsSchema, page_schema, paginate
from tradeapp.market.base import TIMEFRAMES
from tradeapp.services import pairs

blp = ApiBlueprint(
    "trading_api",
    __name__,
    url_prefix="/api/v1",
    description="Market data: trading pairs, quotes and candles (public, no token needed)",
)

DECIMAL = {"type": "string", "description": "Decimal as a string."}
PERCENT = {"type": "string", "example": "0.1", "description": "Percent of the notional, as a string."}


class TradingPairSchema(ma.Schema):
    """A market customers can trade (the seed's TradingPairSerializer)."""

    id = fields.Integer(dump_only=True)
    symbol = fields.String(dump_only=True, metadata={"example": "BTC/USD"})
    base_currency = fields.String(dump_only=True, metadata={"example": "BTC"})
    quote_currency = fields.String(dump_only=True, metadata={"example": "USD"})
    pair_type = fields.String(dump_only=True, metadata={"enum": list(pairs.PAIR_TYPES)})
    is_active = fields.Boolean(dump_only=True)
    min_order_size = fields.Function(
        lambda p: pairs.dec_str(p.min_order_size, p.quantity_precision), dump_only=True, metadata=DECIMAL
    )
    max_order_size = fields.Function(
        lambda p: pairs.dec_str(p.max_order_size, p.quantity_precision), dump_only=True, metadata=DECIMAL
    )
    price_precision = fields.Integer(dump_only=True, metadata={"description": "Decimal places of prices."})
    quantity_precision = fields.Integer(dump_only=True, metadata={"description": "Decimal places of quantities."})
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


SYMBOL_DOC = {"description": "The pair with a dash instead of the slash, e.g. `BTC-USD`."}


@blp.route("/trading-pairs/", methods=["GET"])
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(TradingPairSchema))
def trading_pairs_listing(args):
    """Active trading pairs, by symbol; fees are percentages of the notional."""
    return paginate(pairs.pairs_query(active_only=True))


@blp.route("/market-data/<string:symbol>/", methods=["GET"])
@blp.doc(parameters=[{"in": "path", "name": "symbol", **SYMBOL_DOC}])
@blp.response(200, MarketDataSchema)
@blp.alt_response(404, description="Unknown or inactive pair (`not_found`)")
@blp.alt_response(503, description="The feed has no price for the pair right now (`market_data_unavailable`)")
def market_data_detail(symbol):
    """The latest quote: last, bid, ask, 24-hour change/high/low/volume."""
    return pairs.market_data(pairs.get_pair(symbol))


@blp.route("/candles/<string:symbol>/", methods=["GET"])
@blp.doc(parameters=[{"in": "path", "name": "symbol", **SYMBOL_DOC}])
@blp.arguments(CandleArgsSchema, location="query")
@blp.response(200, CandlesSchema)
@blp.alt_response(404, description="Unknown or inactive pair (`not_found`)")
@blp.alt_response(503, description="The feed has no candles for the pair right now (`market_data_unavailable`)")
def candles_listing(args, symbol):
    """OHLCV candles, oldest first; `timeframe` one of 1m, 5m, 15m, 1h, 4h, 1d; `limit` up to 1000."""
    return pairs.candles(pairs.get_pair(symbol), args["timeframe"], args["limit"])
