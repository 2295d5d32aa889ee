"""Trading API: your orders (place, list, cancel), your fills (trades) and your positions (protect, close).

Every handler loads through a service that scopes by the token's user: another customer's
order, trade or position is a 404, exactly like one that does not exist.
"""

from flask import jsonify
from sqlalchemy.orm import selectinload

from tradeapp import realtime
from tradeapp.blueprints.api import ApiBlueprint, api_user, page_schema, paginate, token_required
from tradeapp.blueprints.api.idempotency import idempotent
from tradeapp.blueprints.trading.schemas import (
    ID_SCHEMA,
    OrderCreateSchema,
    OrderFilterSchema,
    OrderSchema,
    PositionClosedSchema,
    PositionFilterSchema,
    PositionProtectionSchema,
    PositionSchema,
    TradeFilterSchema,
    TradeSchema,
    ValuedPosition,
)
from tradeapp.errors import IllegalTransition, NotFound, ValidationFailed
from tradeapp.models import Order, Position, Trade
from tradeapp.services.trading import orders, pairs, positions, prices

blp = ApiBlueprint(
    "orders_api",
    __name__,
    url_prefix="/api/v1",
    description="Your orders, trades and positions",
)

ORDER_ID = {"in": "path", "name": "order_id", "required": True, "description": "The order's id.", "schema": ID_SCHEMA}
POSITION_ID = {
    "in": "path",
    "name": "position_id",
    "required": True,
    "description": "The position's id.",
    "schema": ID_SCHEMA,
}
NOT_CANCELLABLE = "Order cannot be cancelled: it is already filled, cancelled or rejected."


def _cancel(order_id: int):
    """Cancel through the service; an order past cancelling is a 400, as in the seed's ``cancel`` action."""
    try:
        return orders.cancel_order(api_user(), order_id)
    except IllegalTransition as exc:
        raise ValidationFailed(NOT_CANCELLABLE, code=exc.code) from None


def _pair_filter(symbol: str | None):
    """The pair a ``?symbol=`` names (inactive ones too: old orders stay listable), or None."""
    if not symbol:
        return None
    try:
        return pairs.get_pair(symbol, active_only=False)
    except NotFound:
        raise ValidationFailed("Invalid input.", {"symbol": [f"Unknown trading pair {symbol!r}."]}) from None


def _valued(position, quotes: dict | None = None) -> ValuedPosition:
    """``position`` with its current price and P&L (marked at the bid); each pair's quote is read once."""
    quotes = {} if quotes is None else quotes
    if position.pair_id not in quotes:
        try:
            quotes[position.pair_id] = prices.live_quote(position.pair, fresh=False)
        except pairs.MarketDataUnavailable:
            quotes[position.pair_id] = {"bid": None}  # shown without a mark (nulls), not an error
    return ValuedPosition(position, positions.valuation(position, quotes[position.pair_id]))


# -- orders ---------------------------------------------------------------------------------------------


@blp.route("/orders/", methods=["POST"])
@token_required()
@idempotent
@blp.arguments(OrderCreateSchema)
@blp.response(201, OrderSchema)
@blp.alt_response(
    400,
    description="Invalid input: a missing price, a bad side, too many decimals, a size outside the pair's "
    "limits, an unknown pair (`validation_error`), or not enough available balance (`insufficient_funds`)",
)
@blp.alt_response(409, description="The pair's prices are stale; trading resumes when they are fresh (`market_stale`)")
@blp.alt_response(503, description="No price for the pair right now (`market_data_unavailable`)")
def order_create(data):
    """Place an order; its funds are held until it fills or you cancel it.

    Name the pair by `trading_pair` (its id) or `symbol` (`BTC-USD` or `BTC/USD`). Decimals may be
    strings or JSON numbers; either way they are read exactly as written. `market` orders fill at
    once against the order book (the answer is `filled`, or `rejected`/`cancelled` with a
    `status_reason`); `limit` orders need `price` and rest until the market reaches it;
    `stop_loss` and `take_profit` orders need `stop_price` and execute at market when it is crossed.
    A buy holds quantity × price plus the fee in the quote currency; a sell holds the quantity.
    Send an `Idempotency-Key` header so a retry never places the order twice.
    """
    order = orders.place_order(api_user(), data)
    # The socket ``order`` event is the API's order, dumped after the order's last change: answer with it.
    answer = realtime.dumped("order", order)
    return order if answer is None else (jsonify(answer), 201)


@blp.route("/orders/", methods=["GET"])
@token_required()
@blp.arguments(OrderFilterSchema, location="query")
@blp.response(200, page_schema(OrderSchema))
def orders_listing(args):
    """Your orders, newest first; filter by `status` and `symbol` (`BTC-USD`)."""
    query = orders.orders_query(api_user(), status=args.get("status"), pair=_pair_filter(args.get("symbol")))
    return paginate(query.options(selectinload(Order.pair)))


@blp.route("/orders/<int:order_id>/", methods=["GET"])
@token_required()
@blp.doc(parameters=[ORDER_ID])
@blp.response(200, OrderSchema)
@blp.alt_response(404, description="No such order of yours (`not_found`)")
def order_detail(order_id):
    """One of your orders."""
    return orders.get_order(api_user(), order_id)


@blp.route("/orders/<int:order_id>/", methods=["DELETE"])
@token_required()
@blp.doc(parameters=[ORDER_ID])
@blp.response(204)
@blp.alt_response(400, description="Already filled, cancelled or rejected (`illegal_transition`)")
@blp.alt_response(404, description="No such order of yours (`not_found`)")
def order_delete(order_id):
    """Cancel an open or partly filled order, answering 204 with no body as the seed's router does.

    The order is kept (cancelled, with its fills), never deleted; exactly its unfilled hold is
    released. `POST …/cancel/` does the same and answers with the order.
    """
    _cancel(order_id)
    return None


@blp.route("/orders/<int:order_id>/cancel/", methods=["POST"])
@token_required()
@blp.doc(parameters=[ORDER_ID])
@blp.response(200, OrderSchema)
@blp.alt_response(400, description="Already filled, cancelled or rejected (`illegal_transition`)")
@blp.alt_response(404, description="No such order of yours (`not_found`)")
def order_cancel(order_id):
    """Cancel an open or partly filled order; exactly its unfilled hold is released. Answers with the order."""
    return _cancel(order_id)


# -- trades ---------------------------------------------------------------------------------------------


@blp.route("/trades/", methods=["GET"])
@token_required()
@blp.arguments(TradeFilterSchema, location="query")
@blp.response(200, page_schema(TradeSchema))
def trades_listing(args):
    """Your fills, newest first; filter by `symbol` (`BTC-USD`) and `order` (an order id)."""
    query = orders.trades_query(api_user(), pair=_pair_filter(args.get("symbol")), order_id=args.get("order"))
    return paginate(query.options(selectinload(Trade.pair), selectinload(Trade.order)))


# -- positions ------------------------------------------------------------------------------------------


@blp.route("/positions/", methods=["GET"])
@token_required()
@blp.arguments(PositionFilterSchema, location="query")
@blp.response(200, page_schema(PositionSchema))
def positions_listing(args):
    """Your open positions with their current price and P&L; `?all=1` includes closed ones."""
    query = positions.positions_query(api_user(), open_only=not args["include_closed"])
    page = paginate(query.options(selectinload(Position.pair)))
    quotes: dict = {}
    page["results"] = [_valued(position, quotes) for position in page["results"]]
    return page


@blp.route("/positions/<int:position_id>/", methods=["GET"])
@token_required()
@blp.doc(parameters=[POSITION_ID])
@blp.response(200, PositionSchema)
@blp.alt_response(404, description="No such position of yours (`not_found`)")
def position_detail(position_id):
    """One of your positions, valued at the current price."""
    return _valued(positions.get_position(api_user(), position_id))


@blp.route("/positions/<int:position_id>/", methods=["PATCH"])
@token_required()
@blp.doc(parameters=[POSITION_ID])
@blp.arguments(PositionProtectionSchema)
@blp.response(200, PositionSchema)
@blp.alt_response(
    400,
    description="Not a price, a stop-loss at or above the bid, a take-profit at or below it, "
    "or a closed position (`validation_error`)",
)
@blp.alt_response(404, description="No such position of yours (`not_found`)")
def position_update(data, position_id):
    """Set or clear the position's `stop_loss` and `take_profit`; when the price reaches one, the whole
    position is sold at market. A key you leave out is kept; `null` or `""` clears it."""
    return _valued(positions.set_protection(api_user(), position_id, data))


@blp.route("/positions/<int:position_id>/close/", methods=["POST"])
@token_required()
@idempotent
@blp.doc(parameters=[POSITION_ID])
@blp.response(200, PositionClosedSchema)
@blp.alt_response(
    400,
    description="Nothing available to sell: held by open sell orders (`validation_error`), "
    "or already closed (`illegal_transition`)",
)
@blp.alt_response(404, description="No such position of yours (`not_found`)")
@blp.alt_response(409, description="The pair's prices are stale (`market_stale`)")
@blp.alt_response(503, description="No price for the pair right now (`market_data_unavailable`)")
def position_close(position_id):
    """Sell the whole position at market; answers `{"message": "Position closed", "order": …}` as the seed's view.

    The order is a `manual` market sell whose `position` is this position's id. Only what is
    available is sold: base currency held by your open sell orders stays.
    Send an `Idempotency-Key` header so a retry never sells twice.
    """
    try:
        order = orders.close_position(api_user(), position_id)
    except IllegalTransition as exc:
        raise ValidationFailed(exc.message, code=exc.code) from None
    return {"message": "Position closed", "order": order}
