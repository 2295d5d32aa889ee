"""Public market data: trading pairs, the latest quote per pair, and OHLCV candles (no login needed)."""

from tradeapp.blueprints.api import ApiBlueprint, PageArgsSchema, page_schema, paginate
from tradeapp.blueprints.trading.orders_api import blp as orders_blp  # noqa: F401 - registered with this module
from tradeapp.blueprints.trading.schemas import CandleArgsSchema, CandlesSchema, MarketDataSchema, TradingPairSchema
from tradeapp.services.trading import pairs

blp = ApiBlueprint(
    "trading_api",
    __name__,
    url_prefix="/api/v1",
    description="Market data: trading pairs, quotes and candles (public, no token needed)",
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
