"""Bots API: strategies, backtests, your bots (the seed's 3.6 CRUD, start/stop, performance) and their trades.

Every bot handler loads through a service that scopes by the token's user: another customer's
bot is a 404, exactly like one that does not exist.
"""

from tradeapp.blueprints.api import ApiBlueprint, token_required
from tradeapp.blueprints.bots.schemas import BacktestCreateSchema, BacktestResultSchema
from tradeapp.services.bots import backtest

blp = ApiBlueprint("bots_api", __name__, url_prefix="/api/v1", description="Trading bots and backtests")


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
