"""Indicators on pandas Series, vectorised: what strategies, custom rules and ML features share.

Each returns a float Series aligned with its input, NaN where the window is not yet full.
RSI follows the charting tools (Wilder's RMA seeded with the simple mean of the first
``period`` changes); the seed's simple-mean RSI is kept as :func:`rsi_simple`.
"""

import numpy as np
import pandas as pd


def sma(series: pd.Series, period: int) -> pd.Series:
    return series.rolling(window=period, min_periods=period).mean()


def ema(series: pd.Series, period: int) -> pd.Series:
    """Exponential moving average with alpha 2/(period+1), started at the first value (as charting tools do)."""
    return series.ewm(span=period, adjust=False, min_periods=period).mean()


def rma(series: pd.Series, period: int) -> pd.Series:
    """Wilder's moving average: the simple mean of the first ``period`` values, then alpha = 1/period."""
    out = pd.Series(np.nan, index=series.index, dtype=float)
    valid = series.dropna()
    if len(valid) < period:
        return out
    start = valid.index[period - 1]
    tail = series.loc[start:].astype(float).copy()
    tail.iloc[0] = valid.iloc[:period].mean()
    out.loc[start:] = tail.ewm(alpha=1.0 / period, adjust=False).mean().to_numpy()
    return out


def _rsi_from(gain: pd.Series, loss: pd.Series) -> pd.Series:
    # As charting tools: no losses → 100, no gains → 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = 100.0 - 100.0 / (1.0 + gain / loss)
    rsi = rsi.where(loss != 0, 100.0)
    rsi = rsi.where(~((gain == 0) & (loss != 0)), 0.0)
    return rsi.where(gain.notna() & loss.notna())


def rsi(close: pd.Series, period: int = 14) -> pd.Series:
    """Wilder's RSI (what TradingView and most charting tools show)."""
    delta = close.diff()
    return _rsi_from(rma(delta.clip(lower=0), period), rma((-delta).clip(lower=0), period))


def rsi_simple(close: pd.Series, period: int = 14) -> pd.Series:
    """The seed's RSI: simple rolling means of gains and losses."""
    delta = close.diff()
    gain = delta.clip(lower=0).rolling(period, min_periods=period).mean()
    loss = (-delta).clip(lower=0).rolling(period, min_periods=period).mean()
    return _rsi_from(gain, loss)


def macd(close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> tuple[pd.Series, pd.Series]:
    """(MACD line, signal line): EMA(fast) − EMA(slow), and the EMA(signal) of that line."""
    line = close.ewm(span=fast, adjust=False).mean() - close.ewm(span=slow, adjust=False).mean()
    line = line.where(np.arange(len(close)) >= slow - 1)
    sig = line.ewm(span=signal, adjust=False, min_periods=signal).mean()
    return line, sig


def bollinger(close: pd.Series, period: int = 20, width: float = 2.0) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(lower, middle, upper): SMA ± width × the population standard deviation (as charting tools)."""
    middle = sma(close, period)
    std = close.rolling(period, min_periods=period).std(ddof=0)
    return middle - width * std, middle, middle + width * std


def crosses_above(a: pd.Series, b: pd.Series) -> pd.Series:
    """True on the bar where ``a`` goes from ≤ ``b`` (previous bar) to > ``b``."""
    return ((a.shift(1) <= b.shift(1)) & (a > b)).fillna(False).astype(bool)


def crosses_below(a: pd.Series, b: pd.Series) -> pd.Series:
    """True on the bar where ``a`` goes from ≥ ``b`` (previous bar) to < ``b``."""
    return ((a.shift(1) >= b.shift(1)) & (a < b)).fillna(False).astype(bool)
