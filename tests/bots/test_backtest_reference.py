"""The vectorised engine against the slow bar-by-bar reference loop (tests/bots/helpers.py) on random data."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bots.helpers import candles, reference
from tradeapp.services.bots import backtest as bt
from tradeapp.services.bots import strategies


def random_market(seed: int, n: int):
    rng = np.random.default_rng(seed)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    opens = np.concatenate([[100], closes[:-1]]) * np.exp(rng.normal(0, 0.01, n))  # gaps
    highs = np.maximum(opens, closes) * (1 + rng.uniform(0, 0.03, n))
    lows = np.minimum(opens, closes) * (1 - rng.uniform(0, 0.03, n))
    return candles(closes, opens=opens, highs=highs, lows=lows), rng


def assert_same(df, entries, exits, s):
    fast = bt.run(df, entries, exits, s)
    trades, equity, held = reference(df, entries, exits, s)
    assert len(fast.trades) == len(trades)
    for got, want in zip(fast.trades, trades, strict=True):
        for key in ("entry_bar", "exit_bar", "exit_reason"):
            assert got[key] == want[key]
        for key in ("entry_price", "exit_price", "quantity", "fees", "pnl"):
            assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-9)
    assert fast.equity == pytest.approx(equity, rel=1e-9)
    assert fast.metrics["exposure_pct"] == pytest.approx(held.mean() * 100)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 160),
    p_entry=st.floats(0, 0.5),
    p_exit=st.floats(0, 0.5),
    stop=st.sampled_from([0.0, 1.0, 2.5, 5.0]),
    target=st.sampled_from([0.0, 1.5, 4.0, 10.0]),
    stake=st.floats(0.05, 1.0),
    fee=st.sampled_from([0.0, 0.1, 0.25, 1.0]),
    cap=st.sampled_from([None, 50.0, 5000.0]),
)
def test_engine_matches_reference_loop(seed, n, p_entry, p_exit, stop, target, stake, fee, cap):
    df, rng = random_market(seed, n)
    entries, exits = rng.random(n) < p_entry, rng.random(n) < p_exit
    s = bt.Settings(
        initial_capital=10_000,
        fee_pct=fee,
        stake_fraction=stake,
        stop_loss_pct=stop,
        take_profit_pct=target,
        max_position_size=cap,
    )
    assert_same(df, entries, exits, s)


@pytest.mark.parametrize("name", ["moving_average", "rsi", "macd", "bollinger", "custom"])
def test_strategies_on_real_history_match_reference(name):
    df = bt.read_csv("tradeapp/data/ohlcv/BTC-USD_1h_coinbase.csv").iloc[:3000]
    strategy = strategies.get(name)
    entries, exits = strategy.signals(df, strategy.validate({}))
    s = bt.Settings(fee_pct=0.1, stake_fraction=1.0, stop_loss_pct=3, take_profit_pct=6)
    assert_same(df, entries.to_numpy(), exits.to_numpy(), s)
