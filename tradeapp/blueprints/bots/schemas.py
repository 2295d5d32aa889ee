"""Marshmallow schemas of the bots API (bots, bot trades, strategies, backtests): shapes only.

Numbers in backtest and bot bodies arrive as JSON numbers or strings; the services check them
with the other fields, so one answer lists every problem.
"""

import marshmallow as ma
from marshmallow import fields, validate

from tradeapp.market.base import TIMEFRAMES
from tradeapp.services.bots.strategies import STRATEGIES

NUMBER_IN = {"oneOf": [{"type": "number"}, {"type": "string", "maxLength": 40}]}
PAIR_IN = {
    "oneOf": [
        {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
        {"type": "string", "minLength": 1, "maxLength": 21, "example": "BTC-USD"},
    ]
}


class NumberInput(fields.Raw):
    """A number or a numeric string, checked by the service (documented as either)."""

    def __init__(self, **kwargs):
        metadata = kwargs.pop("metadata", {})
        super().__init__(allow_none=True, metadata={**NUMBER_IN, **metadata}, **kwargs)


class BacktestCreateSchema(ma.Schema):
    """``POST /backtests/``: a strategy over a pair's stored candles; defaults for all but the first three."""

    strategy = fields.String(required=True, metadata={"enum": list(STRATEGIES), "example": "moving_average"})
    parameters = fields.Dict(
        required=True,
        keys=fields.String(validate=validate.Length(max=40)),
        metadata={"description": "The strategy's parameters (see `/bot-strategies/`); `{}` for the defaults."},
    )
    trading_pair = fields.Raw(
        required=True, metadata={**PAIR_IN, "description": "The pair's id, or its symbol (`BTC-USD`)."}
    )
    timeframe = fields.String(
        load_default="1h", validate=validate.OneOf(list(TIMEFRAMES)), metadata={"enum": list(TIMEFRAMES)}
    )
    start = fields.String(
        allow_none=True,
        validate=validate.Length(max=40),
        metadata={"description": "ISO 8601; default 1,000 bars before `end`.", "example": "2024-01-01"},
    )
    end = fields.String(
        allow_none=True,
        validate=validate.Length(max=40),
        metadata={"description": "ISO 8601; default now.", "example": "2024-03-01T00:00:00Z"},
    )
    initial_capital = NumberInput(metadata={"description": "Default 10000.", "example": "10000"})
    fee_percentage = NumberInput(metadata={"description": "% per side on notional; default the pair's taker fee."})
    stake_fraction = NumberInput(metadata={"description": "Fraction of equity per entry, 0–1; default 0.1."})
    stop_loss_percentage = NumberInput(metadata={"description": "% below the entry price; 0 or absent: off."})
    take_profit_percentage = NumberInput(metadata={"description": "% above the entry price; 0 or absent: off."})
    max_position_size = NumberInput(metadata={"description": "Cap on a position's notional (quote currency)."})


class BotBacktestSchema(ma.Schema):
    """``POST /bots/{id}/backtest/``: the bot's own settings; the window and capital may be given."""

    timeframe = fields.String(validate=validate.OneOf(list(TIMEFRAMES)), metadata={"enum": list(TIMEFRAMES)})
    start = fields.String(allow_none=True, validate=validate.Length(max=40), metadata={"example": "2024-01-01"})
    end = fields.String(allow_none=True, validate=validate.Length(max=40))
    initial_capital = NumberInput(metadata={"description": "Default 10000."})
    fee_percentage = NumberInput(metadata={"description": "Default the pair's taker fee."})
    stake_fraction = NumberInput(metadata={"description": "Default 0.1."})


class BacktestTradeSchema(ma.Schema):
    entry_time = fields.String(metadata={"example": "2024-01-02T13:00:00Z"})
    exit_time = fields.String()
    entry_price = fields.Float()
    exit_price = fields.Float()
    quantity = fields.Float()
    fees = fields.Float()
    pnl = fields.Float()
    return_pct = fields.Float()
    exit_reason = fields.String(metadata={"enum": ["signal", "stop_loss", "take_profit", "end"]})


class EquityPointSchema(ma.Schema):
    time = fields.String()
    equity = fields.Float()


class BacktestResultSchema(ma.Schema):
    """Every trade, the equity curve and the metrics; undefined metrics (no variance, no losses) are null."""

    trades = fields.List(fields.Nested(BacktestTradeSchema))
    total_return_pct = fields.Float()
    buy_hold_return_pct = fields.Float()
    max_drawdown_pct = fields.Float()
    win_rate = fields.Float()
    num_trades = fields.Integer()
    exposure_pct = fields.Float()
    sharpe = fields.Float(allow_none=True)
    sortino = fields.Float(allow_none=True)
    profit_factor = fields.Float(allow_none=True)
    final_equity = fields.Float()
    equity_curve = fields.List(fields.Nested(EquityPointSchema))
    strategy = fields.String()
    parameters = fields.Dict()
    trading_pair = fields.Integer()
    symbol = fields.String()
    timeframe = fields.String()
    start = fields.String()
    end = fields.String()
    initial_capital = fields.Float()
    fee_percentage = fields.Float()
    stake_fraction = fields.Float()
    stop_loss_percentage = fields.Float()
    take_profit_percentage = fields.Float()
    max_position_size = fields.Float(allow_none=True)


class StrategyParamSchema(ma.Schema):
    name = fields.String()
    type = fields.String(metadata={"enum": ["int", "float", "choice", "rule", "symbol"]})
    default = fields.Raw()
    label = fields.String()
    help = fields.String()
    min = fields.Float()
    max = fields.Float()
    choices = fields.List(fields.String())


class StrategySchema(ma.Schema):
    name = fields.String(metadata={"example": "moving_average"})
    label = fields.String()
    description = fields.String()
    enabled = fields.Boolean()
    parameters = fields.List(fields.Nested(StrategyParamSchema))


# -- bots ----------------------------------------------------------------------------------------------

from tradeapp.blueprints.trading.schemas import OrderSchema, money_str, price_str, quantity_str  # noqa: E402
from tradeapp.models.bots import BOT_TIMEFRAMES, TRADE_REASONS  # noqa: E402
from tradeapp.services.trading.pairs import dec_str  # noqa: E402

DEC = {"type": "string", "description": "Decimal as a string."}
DEC_NULL = {**DEC, "nullable": True}


def _dec(value, places: int = 8):
    return dec_str(value, places) if value is not None else None


class BotWriteSchema(ma.Schema):
    """``POST /bots/`` and ``PATCH /bots/{id}/``: the seed's writable fields plus timeframe, trailing stop and paper cash.

    ``is_active`` is read-only (start/stop); values are checked by the service, all at once.
    """

    name = fields.String(validate=validate.Length(max=200), metadata={"example": "BTC trend"})
    description = fields.String(validate=validate.Length(max=5000))
    strategy = fields.String(metadata={"enum": list(STRATEGIES), "example": "moving_average"})
    trading_pairs = fields.List(
        fields.Raw(metadata={"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "maxLength": 19}]}),
        validate=validate.Length(max=50),
        metadata={"description": "Pair ids, e.g. `[1]` (two for arbitrage).", "example": [1]},
    )
    timeframe = fields.String(metadata={"enum": list(BOT_TIMEFRAMES), "description": "Default 1h."})
    is_paper_trading = fields.Raw(metadata={"type": "boolean", "description": "Default true (paper account)."})
    max_position_size = NumberInput(metadata={"description": "The most one position may cost (quote currency)."})
    stop_loss_percentage = NumberInput(metadata={"description": "% below entry; 0 = off."})
    take_profit_percentage = NumberInput(metadata={"description": "% above entry; 0 = off."})
    trailing_stop_percentage = NumberInput(metadata={"description": "% below the highest price since entry; 0 = off."})
    max_daily_loss = NumberInput(metadata={"description": "Stop the bot when the day's loss reaches this; 0 = off."})
    parameters = fields.Dict(keys=fields.String(validate=validate.Length(max=40)), allow_none=True)
    paper_initial = NumberInput(metadata={"description": "Paper cash (quote currency); default 10000."})


class BotSchema(ma.Schema):
    """A bot (the seed's TradingBotSerializer, plus timeframe, trailing stop, paper account and stop reason)."""

    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    strategy = fields.String(dump_only=True, metadata={"enum": list(STRATEGIES)})
    trading_pairs = fields.Function(
        lambda b: [p.id for p in b.trading_pairs], metadata={"type": "array", "items": {"type": "integer"}}
    )
    symbols = fields.Function(
        lambda b: [p.symbol for p in b.trading_pairs], metadata={"type": "array", "items": {"type": "string"}}
    )
    timeframe = fields.String(dump_only=True, metadata={"enum": list(BOT_TIMEFRAMES)})
    is_active = fields.Boolean(dump_only=True)
    is_paper_trading = fields.Boolean(dump_only=True)
    max_position_size = fields.Function(lambda b: _dec(b.max_position_size), metadata=DEC)
    stop_loss_percentage = fields.Function(lambda b: _dec(b.stop_loss_percentage, 2), metadata=DEC)
    take_profit_percentage = fields.Function(lambda b: _dec(b.take_profit_percentage, 2), metadata=DEC)
    trailing_stop_percentage = fields.Function(lambda b: _dec(b.trailing_stop_percentage, 2), metadata=DEC)
    max_daily_loss = fields.Function(lambda b: _dec(b.max_daily_loss, 2), metadata=DEC)
    parameters = fields.Dict(dump_only=True)
    total_trades = fields.Integer(dump_only=True)
    winning_trades = fields.Integer(dump_only=True)
    total_profit = fields.Function(lambda b: _dec(b.total_profit, 2), metadata=DEC)
    win_rate = fields.Float(dump_only=True)
    paper_currency = fields.String(dump_only=True)
    paper_initial = fields.Function(lambda b: _dec(b.paper_initial, 2), metadata=DEC)
    paper_balance = fields.Function(lambda b: _dec(b.paper_balance, 2), metadata=DEC)
    stopped_reason = fields.String(dump_only=True)
    started_at = fields.DateTime(dump_only=True, allow_none=True)
    stopped_at = fields.DateTime(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)
    last_run_at = fields.DateTime(dump_only=True, allow_none=True)


class BotActionSchema(ma.Schema):
    """The seed's start/stop answer, plus the bot."""

    message = fields.String(metadata={"example": "Bot started successfully"})
    bot = fields.Nested(BotSchema)


class BotTradeSchema(ma.Schema):
    """One bot fill (the seed's BotTradeSerializer, plus its own numbers: paper fills have no order)."""

    id = fields.Integer(dump_only=True)
    bot = fields.Integer(attribute="bot_id", dump_only=True)
    order = fields.Integer(attribute="order_id", dump_only=True, allow_none=True)
    order_detail = fields.Nested(OrderSchema, attribute="order", dump_only=True, allow_none=True)
    signal_data = fields.Dict(dump_only=True)
    trading_pair = fields.Integer(attribute="pair_id", dump_only=True)
    symbol = fields.Function(lambda t: t.pair.symbol, metadata={"type": "string"})
    is_paper = fields.Boolean(dump_only=True)
    side = fields.String(dump_only=True, metadata={"enum": ["buy", "sell"]})
    quantity = fields.Function(lambda t: quantity_str(t.pair, t.quantity), metadata=DEC)
    price = fields.Function(lambda t: price_str(t.pair, t.price), metadata=DEC)
    fee = fields.Function(lambda t: money_str(t.pair, t.fee), metadata=DEC)
    realized_pnl = fields.Function(lambda t: money_str(t.pair, t.realized_pnl), metadata=DEC_NULL)
    reason = fields.String(dump_only=True, metadata={"enum": list(TRADE_REASONS)})
    created_at = fields.DateTime(dump_only=True)


class OpenPositionSchema(ma.Schema):
    trading_pair = fields.Integer()
    symbol = fields.String()
    quantity = fields.Function(lambda p: _dec(p["quantity"]), metadata=DEC)
    entry_price = fields.Function(lambda p: _dec(p["entry_price"]), metadata=DEC)
    current_price = fields.Function(lambda p: _dec(p["current_price"]), metadata=DEC_NULL)
    unrealized_pnl = fields.Function(lambda p: _dec(p["unrealized_pnl"], 2), metadata=DEC_NULL)
    stop_loss = fields.Function(lambda p: _dec(p["stop_loss"]), metadata=DEC_NULL)
    take_profit = fields.Function(lambda p: _dec(p["take_profit"]), metadata=DEC_NULL)


class PnlPointSchema(ma.Schema):
    time = fields.String()
    pnl = fields.Function(lambda p: _dec(p["pnl"], 2), metadata=DEC)


class BotPerformanceSchema(ma.Schema):
    """The seed's performance answer, plus the realised-P&L curve and the open positions."""

    total_trades = fields.Integer()
    winning_trades = fields.Integer()
    total_profit = fields.Function(lambda p: _dec(p["total_profit"], 2), metadata=DEC)
    win_rate = fields.Float()
    recent_trades = fields.List(fields.Nested(BotTradeSchema))
    equity_curve = fields.List(fields.Nested(PnlPointSchema))
    open_positions = fields.List(fields.Nested(OpenPositionSchema))
    paper_balance = fields.Function(lambda p: _dec(p["paper_balance"], 2), metadata=DEC_NULL)


class BotTradeFilterSchema(ma.Schema):
    bot = fields.Integer(validate=validate.Range(min=1, max=2**63 - 1), metadata={"description": "Only this bot's."})
    page = fields.Integer(validate=validate.Range(min=1, max=100_000))
    page_size = fields.Integer(validate=validate.Range(min=1, max=200))

    class Meta:
        unknown = ma.EXCLUDE
