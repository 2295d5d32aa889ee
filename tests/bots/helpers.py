"""Candle frames for the bots tests, and the slow reference backtester the vectorised engine is checked against."""

import numpy as np
import pandas as pd

from tradeapp.services.bots import backtest as bt


def candles(closes, opens=None, highs=None, lows=None, start="2024-01-01", freq="1h") -> pd.DataFrame:
    """A frame from closes; opens default to the closes, highs/lows to max/min of open and close."""
    closes = np.asarray(closes, dtype=float)
    opens = closes.copy() if opens is None else np.asarray(opens, dtype=float)
    highs = np.maximum(opens, closes) if highs is None else np.asarray(highs, dtype=float)
    lows = np.minimum(opens, closes) if lows is None else np.asarray(lows, dtype=float)
    times = pd.date_range(start, periods=len(closes), freq=freq, tz="UTC")
    return bt.frame(times, opens, highs, lows, closes, np.ones(len(closes)))


def indices(mask) -> list[int]:
    return [int(i) for i in np.flatnonzero(np.asarray(mask, dtype=bool))]


def reference(df: pd.DataFrame, entries, exits, s: bt.Settings) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """A plain bar-by-bar loop of the documented conventions: (trades, equity, held-at-close)."""
    o, h, lo, c = (df[k].to_numpy(dtype=float) for k in ("open", "high", "low", "close"))
    n, fee = len(df), s.fee_pct / 100
    cash, qty, entry_price, entry_fee, cost, entry_bar = s.initial_capital, 0.0, 0.0, 0.0, 0.0, 0
    pending_entry = pending_exit = False
    trades, equity, held = [], np.zeros(n), np.zeros(n, dtype=bool)

    def sell(i, price, reason):
        nonlocal cash, qty
        exit_fee = qty * price * fee
        proceeds = qty * price - exit_fee
        trades.append(
            {
                "entry_bar": entry_bar,
                "exit_bar": i,
                "entry_price": entry_price,
                "exit_price": price,
                "quantity": qty,
                "fees": entry_fee + exit_fee,
                "pnl": proceeds - cost,
                "exit_reason": reason,
            }
        )
        cash += proceeds
        qty = 0.0

    for i in range(n):
        if pending_exit and qty > 0:
            sell(i, o[i], "signal")
        elif pending_entry and qty == 0:
            entry_price, entry_bar = o[i], i
            qty = cash * s.stake_fraction / (o[i] * (1 + fee))
            if s.max_position_size is not None:
                qty = min(qty, s.max_position_size / o[i])
            entry_fee = qty * o[i] * fee
            cost = qty * o[i] + entry_fee
            cash -= cost
        pending_entry = pending_exit = False
        if qty > 0:
            stop = entry_price * (1 - s.stop_loss_pct / 100)
            target = entry_price * (1 + s.take_profit_pct / 100)
            if s.stop_loss_pct > 0 and lo[i] <= stop:
                sell(i, min(o[i], stop), "stop_loss")
            elif s.take_profit_pct > 0 and h[i] >= target:
                sell(i, max(o[i], target), "take_profit")
        if i < n - 1:
            if qty > 0 and exits[i]:
                pending_exit = True
            elif qty == 0 and entries[i]:
                pending_entry = True
        held[i] = qty > 0
        equity[i] = cash + qty * c[i]
    if qty > 0:
        sell(n - 1, c[n - 1], "end")
        equity[n - 1] = cash
    return trades, equity, held
