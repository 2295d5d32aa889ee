"""Bots API: strategies, backtests, your bots (the seed's 3.6 CRUD, start/stop, performance) and their trades.

Every bot handler loads through a service that scopes by the token's user: another customer's
bot is a 404, exactly like one that does not exist.
"""

from sqlalchemy.orm import selectinload

from tradeapp.blueprints.api import ApiBlueprint, api_user, id_parameter, page_schema, paginate, token_required
from tradeapp.blueprints.bots.schemas import (
    BacktestCreateSchema,
    BacktestResultSchema,
    BotActionSchema,
    BotBacktestSchema,
    BotPerformanceSchema,
    BotSchema,
    BotTradeFilterSchema,
    BotTradeSchema,
    BotWriteSchema,
    StrategySchema,
)
from tradeapp.errors import IllegalTransition, ValidationFailed
from tradeapp.models import BotTrade, TradingBot
from tradeapp.services.bots import backtest
from tradeapp.services.bots import bots as bot_service

blp = ApiBlueprint("bots_api", __name__, url_prefix="/api/v1", description="Trading bots and backtests")

BOT_ID = id_parameter("bot_id", "The bot's id.")
TRADE_ID = id_parameter("trade_id", "The bot trade's id.")


@blp.route("/bot-strategies/", methods=["GET"])
@token_required()
@blp.response(200, page_schema(StrategySchema))
def strategies_listing():
    """The strategies bots can run (one page), each with its parameter schema (name, type, default, bounds) and
    whether it is `enabled` (staff may switch one off platform-wide)."""
    catalogue = bot_service.strategy_catalogue()
    return {"count": len(catalogue), "next": None, "previous": None, "results": catalogue}


@blp.route("/backtests/", methods=["POST"])
@token_required()
@blp.arguments(BacktestCreateSchema)
@blp.response(200, BacktestResultSchema)
@blp.alt_response(
    400,
    description="Invalid input: an unknown strategy or pair, bad parameters (`parameters.<name>`), a bad "
    "window (`validation_error`), or no stored candles in the window (`no_candles`)",
)
def backtest_create(data):
    """Backtest a strategy on a pair's stored candles and return every trade, the equity curve and the metrics.

    Conventions: signals on a bar's close fill at the next bar's open; long only, one position at
    a time; each entry invests `stake_fraction` of equity (fee included), capped by
    `max_position_size`; the fee is a % per side on the notional; stop-loss/take-profit are checked
    against each bar's low/high and fill at the stop price (or the open when the bar opened beyond
    it), the stop first when both are hit; a position still open at the end closes at the last close.
    """
    result = backtest.run_stored(data)
    return result.to_dict()


# -- bots ------------------------------------------------------------------------------------------------


@blp.route("/bots/", methods=["GET"])
@token_required()
@blp.response(200, page_schema(BotSchema))
def bots_listing():
    """Your bots, newest first."""
    return paginate(bot_service.bots_query(api_user()))


@blp.route("/bots/", methods=["POST"])
@token_required()
@blp.arguments(BotWriteSchema)
@blp.response(201, BotSchema)
@blp.alt_response(400, description="Invalid input, by field (`parameters.<name>` for strategy parameters)")
def bot_create(data):
    """Create a bot; it starts stopped (`is_active` is read-only: use start). Paper trading by default."""
    return bot_service.create_bot(api_user(), data)


@blp.route("/bots/<int:bot_id>/", methods=["GET"])
@token_required()
@blp.doc(parameters=[BOT_ID])
@blp.response(200, BotSchema)
@blp.alt_response(404, description="No such bot of yours (`not_found`)")
def bot_detail(bot_id):
    """One of your bots."""
    return bot_service.get_bot(api_user(), bot_id)


@blp.route("/bots/<int:bot_id>/", methods=["PATCH"])
@token_required()
@blp.doc(parameters=[BOT_ID])
@blp.arguments(BotWriteSchema)
@blp.response(200, BotSchema)
@blp.alt_response(400, description="Invalid input, by field")
@blp.alt_response(404, description="No such bot of yours (`not_found`)")
def bot_update(data, bot_id):
    """Change a bot's settings; `is_active` cannot be set here (start/stop checks the bot first)."""
    return bot_service.update_bot(api_user(), bot_id, data)


@blp.route("/bots/<int:bot_id>/", methods=["DELETE"])
@token_required()
@blp.doc(parameters=[BOT_ID])
@blp.response(204)
@blp.alt_response(409, description="The bot is running: stop it first (`illegal_transition`)")
@blp.alt_response(404, description="No such bot of yours (`not_found`)")
def bot_delete(bot_id):
    """Delete a stopped bot (its live orders and fills stay with your account)."""
    bot_service.delete_bot(api_user(), bot_id)
    return None


def _action(func, bot_id: int, message: str) -> dict:
    try:
        bot = func(api_user(), bot_id)
    except IllegalTransition as exc:
        raise ValidationFailed(exc.message, code=exc.code) from None
    return {"message": message, "bot": bot}


@blp.route("/bots/<int:bot_id>/start/", methods=["POST"])
@token_required()
@blp.doc(parameters=[BOT_ID])
@blp.response(200, BotActionSchema)
@blp.alt_response(
    400,
    description="Already running (`illegal_transition`), an inactive pair or a strategy switched off "
    "(`validation_error`), or too little cash for the minimum order (`insufficient_funds`)",
)
@blp.alt_response(404, description="No such bot of yours (`not_found`)")
@blp.alt_response(503, description="No price for a pair right now (`market_data_unavailable`)")
def bot_start(bot_id):
    """Start the bot: it is evaluated at each close of its timeframe's bars."""
    return _action(bot_service.start_bot, bot_id, "Bot started successfully")


@blp.route("/bots/<int:bot_id>/stop/", methods=["POST"])
@token_required()
@blp.doc(parameters=[BOT_ID])
@blp.response(200, BotActionSchema)
@blp.alt_response(400, description="Not running (`illegal_transition`)")
@blp.alt_response(404, description="No such bot of yours (`not_found`)")
def bot_stop(bot_id):
    """Stop the bot; its open positions stay as they are."""
    return _action(bot_service.stop_bot, bot_id, "Bot stopped successfully")


@blp.route("/bots/<int:bot_id>/performance/", methods=["GET"])
@token_required()
@blp.doc(parameters=[BOT_ID])
@blp.response(200, BotPerformanceSchema)
@blp.alt_response(404, description="No such bot of yours (`not_found`)")
def bot_performance(bot_id):
    """Results from the bot's fills: trades, wins, profit, win rate, recent trades, P&L curve, open positions."""
    return bot_service.performance(bot_service.get_bot(api_user(), bot_id))


@blp.route("/bots/<int:bot_id>/backtest/", methods=["POST"])
@token_required()
@blp.doc(parameters=[BOT_ID])
@blp.arguments(BotBacktestSchema)
@blp.response(200, BacktestResultSchema)
@blp.alt_response(400, description="Invalid window or settings, or no stored candles (`no_candles`)")
@blp.alt_response(404, description="No such bot of yours (`not_found`)")
def bot_backtest(data, bot_id):
    """Backtest the bot's own strategy, parameters, pair, timeframe and risk settings (stake 0.1 by default)."""
    return bot_service.backtest_bot(api_user(), bot_id, data)


# -- bot trades ------------------------------------------------------------------------------------------


@blp.route("/bot-trades/", methods=["GET"])
@token_required()
@blp.arguments(BotTradeFilterSchema, location="query")
@blp.response(200, page_schema(BotTradeSchema))
def bot_trades_listing(args):
    """Your bots' fills, newest first; `?bot=` for one bot."""
    query = bot_service.bot_trades_query(api_user(), args.get("bot"))
    return paginate(query.options(selectinload(BotTrade.order)))


@blp.route("/bot-trades/<int:trade_id>/", methods=["GET"])
@token_required()
@blp.doc(parameters=[TRADE_ID])
@blp.response(200, BotTradeSchema)
@blp.alt_response(404, description="No such bot trade of yours (`not_found`)")
def bot_trade_detail(trade_id):
    """One of your bots' fills."""
    return bot_service.get_bot_trade(api_user(), trade_id)


__all__ = ["blp", "TradingBot"]
