"""Public market data: trading pairs, the latest quote per pair, and OHLCV candles (no login needed)."""

import re

from tradeapp.blueprints.api import ApiBlueprint, PageArgsSchema, page_schema, paginate
from tradeapp.blueprints.trading.orders_api import blp as orders_blp  # noqa: F401 - registered with this module
from tradeapp.blueprints.trading.schemas import (
    ID_SCHEMA,
    CandleArgsSchema,
    CandlesSchema,
    MarketDataSchema,
    TradingPairSchema,
)
from tradeapp.errors import NotFound
from tradeapp.extensions import db
from tradeapp.models import TradingPair
from tradeapp.services.trading import pairs

blp = ApiBlueprint(
    "trading_api",
    __name__,
    url_prefix="/api/v1",
    description="Market data: trading pairs, quotes and candles (public, no token needed)",
)

SYMBOL = {
    "in": "path",
    "name": "symbol",
    "required": True,
    "description": "The pair: `BTC-USD`, or `BTC/USD` with the slash URL-encoded (`BTC%2FUSD`).",
    "schema": {"type": "string", "pattern": r"^[A-Za-z]{2,10}[-/][A-Za-z]{2,10}$", "example": "BTC-USD"},
}
PAIR_ID = {"in": "path", "name": "pair_id", "required": True, "description": "The pair's id.", "schema": ID_SCHEMA}


SYMBOL_RE = re.compile(SYMBOL["schema"]["pattern"], re.ASCII)


def _pair_by_symbol(symbol: str) -> TradingPair:
    """The active pair ``BTC-USD`` or ``BTC/USD`` names; anything else is simply not found."""
    if not SYMBOL_RE.match(symbol):
        raise NotFound(f"No active trading pair {symbol[:24]!r}.")
    return pairs.get_pair(symbol)


def _active_pair(pair_id: int) -> TradingPair:
    pair = db.session.get(TradingPair, pair_id)
    if pair is None or not pair.is_active:
        raise NotFound("No active trading pair with this id.")
    return pair


@blp.route("/trading-pairs/", methods=["GET"])
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(TradingPairSchema))
def trading_pairs_listing(args):
    """Active trading pairs, by symbol; fees are percentages of the notional."""
    return paginate(pairs.pairs_query(active_only=True))


@blp.route("/trading-pairs/<int:pair_id>/", methods=["GET"])
@blp.doc(parameters=[PAIR_ID])
@blp.response(200, TradingPairSchema)
@blp.alt_response(404, description="Unknown or inactive pair (`not_found`)")
def trading_pair_detail(pair_id):
    """One active trading pair."""
    return _active_pair(pair_id)


@blp.route("/trading-pairs/<int:pair_id>/market_data/", methods=["GET"])
@blp.doc(parameters=[PAIR_ID])
@blp.response(200, MarketDataSchema)
@blp.alt_response(404, description="Unknown or inactive pair (`not_found`)")
@blp.alt_response(503, description="The feed has no price for the pair right now (`market_data_unavailable`)")
def trading_pair_market_data(pair_id):
    """The latest quote of the pair (the seed's `market_data` router action); same as `/market-data/{symbol}/`."""
    return pairs.market_data(_active_pair(pair_id))


@blp.route("/market-data/<path:symbol>/", methods=["GET"])
@blp.doc(parameters=[SYMBOL])
@blp.response(200, MarketDataSchema)
@blp.alt_response(404, description="Unknown or inactive pair (`not_found`)")
@blp.alt_response(503, description="The feed has no price for the pair right now (`market_data_unavailable`)")
def market_data_detail(symbol):
    """The latest quote: last, bid, ask, 24-hour change/high/low/volume."""
    return pairs.market_data(_pair_by_symbol(symbol))


@blp.route("/candles/<path:symbol>/", methods=["GET"])
@blp.doc(parameters=[SYMBOL])
@blp.arguments(CandleArgsSchema, location="query")
@blp.response(200, CandlesSchema)
@blp.alt_response(404, description="Unknown or inactive pair (`not_found`)")
@blp.alt_response(503, description="The feed has no candles for the pair right now (`market_data_unavailable`)")
def candles_listing(args, symbol):
    """OHLCV candles, oldest first; `timeframe` one of 1m, 5m, 15m, 1h, 4h, 1d; `limit` up to 1000."""
    return pairs.candles(pairs.get_pair(symbol), args["timeframe"], args["limit"])
