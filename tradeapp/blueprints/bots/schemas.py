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
