"""Bot strategies: one interface, a registry, parameter schemas; signals computed vectorised.

A strategy takes a candle DataFrame (columns ``open high low close volume``, one row per bar,
oldest first) and its parameters, and returns two boolean Series: ``entries`` and ``exits``, True
on the bars whose *close* signals. Backtests use every bar; a live run looks at the latest closed
bar only, with the same code. Each strategy publishes its parameters (name, type, default,
bounds), so the form, the API and the backtester validate them before a bot is saved.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tradeapp.errors import ValidationFailed
from tradeapp.services.bots import indicators as ind
from tradeapp.services.bots import rules


@dataclass(frozen=True)
class Param:
    """One strategy parameter as forms and the API see it."""

    name: str
    type: str  # int, float, choice, rule, symbol
    default: object
    label: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""

    def schema(self) -> dict:
        out = {"name": self.name, "type": self.type, "default": self.default, "label": self.label, "help": self.help}
        if self.minimum is not None:
            out["min"] = self.minimum
        if self.maximum is not None:
            out["max"] = self.maximum
        if self.choices:
            out["choices"] = list(self.choices)
        return out

    def clean(self, raw: object) -> tuple[object, str | None]:
        """(value, None) or (None, error message)."""
        if self.type in ("int", "float"):
            if isinstance(raw, bool) or raw is None or raw == "":
                return None, "Enter a number."
            try:
                value = float(str(raw).strip())
            except ValueError:
                return None, "Enter a number."
            if not np.isfinite(value):
                return None, "Enter a number."
            if self.type == "int":
                if value != int(value):
                    return None, "Enter a whole number."
                value = int(value)
            if self.minimum is not None and value < self.minimum:
                return None, f"At least {self.minimum:g}."
            if self.maximum is not None and value > self.maximum:
                return None, f"At most {self.maximum:g}."
            return value, None
        if self.type == "choice":
            value = str(raw).strip().lower()
            if value not in self.choices:
                return None, f"One of {', '.join(self.choices)}."
            return value, None
        if self.type == "rule":
            if not isinstance(raw, str):
                return None, "Write a rule, e.g. rsi(14) < 30."
            error = rules.validate(raw)
            return (None, error) if error else (raw.strip(), None)
        if self.type == "symbol":
            value = str(raw or "").strip().upper().replace("-", "/")
            if value and not (3 <= len(value) <= 21 and value.count("/") == 1 and value.replace("/", "").isalpha()):
                return None, "A pair symbol such as ETH/USD."
            return value, None
        raise ValueError(self.type)


@dataclass(frozen=True)
class Strategy:
    """A named signal function with its parameter schema."""

    name: str
    label: str
    description: str
    params: tuple[Param, ...]
    compute: Callable[[pd.DataFrame, dict], tuple[pd.Series, pd.Series]]
    check: Callable[[dict], dict[str, str]] = field(default=lambda p: {})
    #: how many bars before the last one a live run needs
    warmup: Callable[[dict], int] = field(default=lambda p: 200)
    #: needs a second pair's closes as ``ref_close`` (arbitrage)
    needs_reference: bool = False

    def schema(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "parameters": [p.schema() for p in self.params],
        }

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def validate(self, raw: dict | None) -> dict:
        """Defaults filled in, types and bounds checked; unknown keys dropped.

        :raise ValidationFailed: ``fields`` maps ``parameters.<name>`` to its message
        """
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ValidationFailed("Invalid parameters.", {"parameters": ["An object of parameter values."]})
        values, errors = {}, {}
        for param in self.params:
            value, error = param.clean(raw[param.name]) if param.name in raw else (param.default, None)
            if error:
                errors[f"parameters.{param.name}"] = [error]
            values[param.name] = value
        if not errors:
            errors = {f"parameters.{k}": [v] for k, v in self.check(values).items()}
        if errors:
            raise ValidationFailed("Please correct the strategy's parameters.", errors)
        return values

    def signals(self, df: pd.DataFrame, params: dict) -> tuple[pd.Series, pd.Series]:
        """(entries, exits): boolean Series aligned with ``df``; an indicator not yet defined never signals."""
        entries, exits = self.compute(df, params)
        entries = pd.Series(entries, index=df.index).fillna(False).astype(bool)
        exits = pd.Series(exits, index=df.index).fillna(False).astype(bool)
        return entries, exits


def _close(df: pd.DataFrame) -> pd.Series:
    return df["close"].astype(float)


# -- moving average crossover ---------------------------------------------------------------------


def _moving_average(df, p):
    close = _close(df)
    short, long = ind.sma(close, p["short_period"]), ind.sma(close, p["long_period"])
    return ind.crosses_above(short, long), ind.crosses_below(short, long)


MOVING_AVERAGE = Strategy(
    "moving_average",
    "Moving Average Crossover",
    "Buys when the short SMA crosses above the long SMA; sells on the opposite cross.",
    (
        Param("short_period", "int", 20, "Short SMA period", 1, 500),
        Param("long_period", "int", 50, "Long SMA period", 2, 1000),
    ),
    _moving_average,
    check=lambda p: {"long_period": "Must be longer than the short period."}
    if p["long_period"] <= p["short_period"]
    else {},
    warmup=lambda p: p["long_period"] + 2,
)


# -- RSI --------------------------------------------------------------------------------------------


def _rsi(df, p):
    close = _close(df)
    values = ind.rsi(close, p["rsi_period"]) if p["smoothing"] == "wilder" else ind.rsi_simple(close, p["rsi_period"])
    return values < p["oversold_level"], values > p["overbought_level"]


RSI = Strategy(
    "rsi",
    "RSI Strategy",
    "Buys when the RSI is below the oversold level; sells when it is above the overbought level.",
    (
        Param("rsi_period", "int", 14, "RSI period", 2, 500),
        Param("oversold_level", "float", 30, "Oversold level (buy below)", 0, 100),
        Param("overbought_level", "float", 70, "Overbought level (sell above)", 0, 100),
        Param(
            "smoothing",
            "choice",
            "wilder",
            "Smoothing",
            choices=("wilder", "simple"),
            help="wilder: as charting tools show; simple: rolling means (the original formula)",
        ),
    ),
    _rsi,
    check=lambda p: {"overbought_level": "Must be above the oversold level."}
    if p["overbought_level"] <= p["oversold_level"]
    else {},
    warmup=lambda p: p["rsi_period"] * 10 + 2,
)


# -- MACD -------------------------------------------------------------------------------------------


def _macd(df, p):
    line, sig = ind.macd(_close(df), p["fast_period"], p["slow_period"], p["signal_period"])
    return ind.crosses_above(line, sig), ind.crosses_below(line, sig)


MACD = Strategy(
    "macd",
    "MACD Strategy",
    "Buys when the MACD line crosses above its signal line; sells when it crosses below.",
    (
        Param("fast_period", "int", 12, "Fast EMA period", 1, 500),
        Param("slow_period", "int", 26, "Slow EMA period", 2, 1000),
        Param("signal_period", "int", 9, "Signal EMA period", 1, 500),
    ),
    _macd,
    check=lambda p: {"slow_period": "Must be longer than the fast period."}
    if p["slow_period"] <= p["fast_period"]
    else {},
    warmup=lambda p: (p["slow_period"] + p["signal_period"]) * 5,
)


# -- Bollinger bands --------------------------------------------------------------------------------


def _bollinger(df, p):
    close = _close(df)
    lower, middle, upper = ind.bollinger(close, p["bb_period"], p["bb_std"])
    entries = (close.shift(1) < lower.shift(1)) & (close >= lower)
    target = middle if p["exit_band"] == "middle" else upper
    return entries, close >= target


BOLLINGER = Strategy(
    "bollinger",
    "Bollinger Bands",
    "Buys when the close comes back inside the lower band from below; sells at the middle or upper band.",
    (
        Param("bb_period", "int", 20, "Period", 2, 500),
        Param("bb_std", "float", 2.0, "Width (standard deviations)", 0.1, 10),
        Param("exit_band", "choice", "middle", "Sell at", choices=("middle", "upper")),
    ),
    _bollinger,
    warmup=lambda p: p["bb_period"] + 2,
)


# -- statistical arbitrage --------------------------------------------------------------------------


def _arbitrage(df, p):
    if "ref_close" not in df:
        raise ValidationFailed(
            "Arbitrage needs a second pair.", {"parameters.reference_pair": ["Choose the pair to trade against."]}
        )
    spread = np.log(_close(df)) - np.log(df["ref_close"].astype(float))
    window = spread.rolling(p["window"], min_periods=p["window"])
    std = window.std(ddof=0)
    z = (spread - window.mean()) / std.where(std > 0)
    # This pair is the cheap leg when its spread is far below its mean; it has reverted near the mean.
    return z < -p["entry_z"], z > -p["exit_z"]


ARBITRAGE = Strategy(
    "arbitrage",
    "Arbitrage",
    "Statistical arbitrage: buys this pair when its log-price spread to the reference pair is "
    "entry_z standard deviations below its rolling mean (the cheap leg); sells when it reverts "
    "within exit_z. Spot, long only; a bot on two pairs trades each against the other.",
    (
        Param("reference_pair", "symbol", "", "Reference pair", help="e.g. ETH/USD; a bot uses its other pair"),
        Param("window", "int", 50, "Window (bars)", 2, 1000),
        Param("entry_z", "float", 2.0, "Entry z-score", 0.1, 10),
        Param("exit_z", "float", 0.5, "Exit z-score", 0, 10),
    ),
    _arbitrage,
    check=lambda p: {"exit_z": "Must be below the entry z-score."} if p["exit_z"] >= p["entry_z"] else {},
    warmup=lambda p: p["window"] + 2,
    needs_reference=True,
)


# -- custom rules -----------------------------------------------------------------------------------


def _custom(df, p):
    cache: dict = {}
    return rules.signal(p["entry_rule"], df, cache), rules.signal(p["exit_rule"], df, cache)


CUSTOM = Strategy(
    "custom",
    "Custom Strategy",
    "Your own rules over indicators, e.g. entry “rsi(14) < 30 and close > sma(200)”, "
    "exit “rsi(14) > 70 or close < ema(20)”.",
    (
        Param(
            "entry_rule", "rule", "rsi(14) < 30 and close > sma(200)", "Entry rule", help=rules.__doc__.split("\n")[0]
        ),
        Param("exit_rule", "rule", "rsi(14) > 70 or close < ema(20)", "Exit rule"),
    ),
    _custom,
    warmup=lambda p: 1000,
)


def _ml(df, p):
    # Imported here: scikit-learn loads slowly and only this strategy needs it.
    from tradeapp.services.bots import ml

    proba = ml.walk_forward_proba(df, p)
    return proba > p["probability_threshold"], proba < p["exit_threshold"]


ML_MODEL = Strategy(
    "ml_model",
    "Machine Learning Model",
    "A logistic-regression classifier on indicator features (returns, RSI, MACD, band width) predicts "
    "whether the next bar closes higher; trained walk-forward on earlier bars only. Buys above the "
    "probability threshold, sells below the exit threshold.",
    (
        Param("probability_threshold", "float", 0.55, "Buy above probability", 0.5, 1),
        Param("exit_threshold", "float", 0.45, "Sell below probability", 0, 0.5),
        Param("train_window", "int", 1000, "Training window (bars)", 100, 20000),
        Param("retrain_every", "int", 250, "Retrain every (bars)", 10, 5000),
    ),
    _ml,
    warmup=lambda p: p["train_window"] + 60,
)


STRATEGIES: dict[str, Strategy] = {
    s.name: s for s in (MOVING_AVERAGE, RSI, MACD, BOLLINGER, ARBITRAGE, ML_MODEL, CUSTOM)
}
#: the seed's STRATEGY_CHOICES
STRATEGY_CHOICES = tuple((s.name, s.label) for s in STRATEGIES.values())


def get(name: str) -> Strategy:
    """The strategy named ``name``; ValidationFailed for an unknown one."""
    strategy = STRATEGIES.get(str(name or ""))
    if strategy is None:
        raise ValidationFailed("Invalid input.", {"strategy": [f"One of {', '.join(STRATEGIES)}."]})
    return strategy
