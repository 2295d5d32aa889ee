"""Each strategy's signals on fixed candles, against values worked out by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from tests.bots.helpers import candles, indices
from tradeapp.errors import ValidationFailed
from tradeapp.services.bots import indicators as ind
from tradeapp.services.bots import ml, strategies


def signals(name, df, **params):
    strategy = strategies.get(name)
    return strategy.signals(df, strategy.validate(params))


def test_moving_average_crossovers():
    # sma2 / sma3: bar 3 short 9.5 < long 9.67 after 10 = 10 (cross down); bar 6: 10 > 9.33 after
    # 8.5 <= 8.67 (cross up); bar 8 equal (no cross); bar 9: 9 < 10 after 11 >= 11 (cross down)
    df = candles([10, 10, 10, 9, 8, 9, 11, 12, 10, 8])
    entries, exits = signals("moving_average", df, short_period=2, long_period=3)
    assert indices(entries) == [6]
    assert indices(exits) == [3, 9]


def test_moving_average_defaults_are_the_seeds():
    assert strategies.get("moving_average").defaults() == {"short_period": 20, "long_period": 50}


def test_rsi_wilder_by_hand():
    # changes +1 +1 -1 -1 -1 +1; Wilder (alpha 1/2) seeded with the mean of the first two:
    # gain/loss 1/0 → 100; .5/.5 → 50; .25/.75 → 25; .125/.875 → 12.5; .5625/.4375 → 56.25
    df = candles([10, 11, 12, 11, 10, 9, 10])
    values = ind.rsi(df["close"], 2)
    assert np.isnan(values.iloc[:2]).all()
    assert values.iloc[2:].tolist() == pytest.approx([100, 50, 25, 12.5, 56.25])
    entries, exits = signals("rsi", df, rsi_period=2)
    assert indices(entries) == [4, 5]
    assert indices(exits) == [2]


def test_rsi_simple_is_the_seeds_rolling_mean():
    df = candles([10, 11, 12, 11, 10, 9, 10])
    assert ind.rsi_simple(df["close"], 2).iloc[2:].tolist() == pytest.approx([100, 50, 0, 0, 50])
    entries, exits = signals("rsi", df, rsi_period=2, smoothing="simple")
    assert indices(entries) == [4, 5]
    assert indices(exits) == [2]


def test_rsi_matches_wilders_published_example():
    # The 14-period example charting references use (StockCharts' "RSI" article) lists 70.53, 66.32,
    # 66.55, 69.41, 66.36, 57.97; it rounds its averages to 4 places, hence the 0.1 tolerance. The
    # exact recursion (first average = simple mean of 14 changes, then (prev × 13 + x) / 14) below.
    closes = [44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03, 45.61, 46.28]
    closes += [46.28, 46.00, 46.03, 46.41, 46.22, 45.64]
    values = ind.rsi(pd.Series(closes), 14)
    assert values.iloc[14:].tolist() == pytest.approx([70.53, 66.32, 66.55, 69.41, 66.36, 57.97], abs=0.1)
    changes = np.diff(closes)
    gain, loss = changes.clip(min=0)[:14].mean(), (-changes).clip(min=0)[:14].mean()
    expected = [100 - 100 / (1 + gain / loss)]
    for change in changes[14:]:
        gain = (gain * 13 + max(change, 0)) / 14
        loss = (loss * 13 + max(-change, 0)) / 14
        expected.append(100 - 100 / (1 + gain / loss))
    assert values.iloc[14:].tolist() == pytest.approx(expected, rel=1e-12)


def test_rsi_defaults_and_levels_checked():
    rsi = strategies.get("rsi")
    assert rsi.defaults() | {} == {
        "rsi_period": 14,
        "oversold_level": 30,
        "overbought_level": 70,
        "smoothing": "wilder",
    }
    with pytest.raises(ValidationFailed) as exc:
        rsi.validate({"oversold_level": 80, "overbought_level": 70})
    assert "parameters.overbought_level" in exc.value.fields


def test_macd_cross_by_hand():
    closes = [1, 2, 3, 2, 1, 2, 3]
    df = candles(closes)

    def ema(values, span):
        alpha, out = 2 / (span + 1), [values[0]]
        for v in values[1:]:
            out.append(out[-1] + alpha * (v - out[-1]))
        return out

    line = [f - s for f, s in zip(ema(closes, 2), ema(closes, 3), strict=True)]
    computed, signal = ind.macd(df["close"], 2, 3, 2)
    assert computed.iloc[2:].tolist() == pytest.approx(line[2:])
    assert signal.iloc[3:].tolist() == pytest.approx(ema(line[2:], 2)[1:])
    # line .0602 < signal .1420 at bar 3; bar 5: line .0171 > signal -.0100 after -.1674 <= -.0643
    entries, exits = signals("macd", df, fast_period=2, slow_period=3, signal_period=2)
    assert indices(entries) == [5]
    assert indices(exits) == []
    assert strategies.get("macd").defaults() == {"fast_period": 12, "slow_period": 26, "signal_period": 9}


def test_bollinger_back_inside_from_below():
    # period 3, 1 sigma: bar 3 closes 7 under the lower band 7.586; bar 4 closes 9 above 7.420 → entry;
    # the middle band (8.667) is reached at bars 2, 4, 5, 6; the upper band at bars 2, 5 (9.914), 6 (10.816)
    df = candles([10, 10, 10, 7, 9, 10, 11])
    lower, middle, upper = ind.bollinger(df["close"], 3, 1.0)
    assert lower.iloc[3] == pytest.approx(9 - math.sqrt(2))
    entries, exits = signals("bollinger", df, bb_period=3, bb_std=1.0)
    assert indices(entries) == [4]
    assert indices(exits) == [2, 4, 5, 6]
    _, exits_upper = signals("bollinger", df, bb_period=3, bb_std=1.0, exit_band="upper")
    assert indices(exits_upper) == [2, 5, 6]


def test_arbitrage_enters_the_cheap_leg_and_exits_on_reversion():
    # spread log(close) - log(1) = 0 0 0 -1 0 0: window 3 → bar 3 z = -1.414 (< -1: enter),
    # bars 4 and 5 z = +0.707 (> -0.5: reverted)
    df = candles(np.exp([0, 0, 0, -1, 0, 0]))
    df["ref_close"] = 1.0
    entries, exits = signals("arbitrage", df, window=3, entry_z=1.0, exit_z=0.5)
    assert indices(entries) == [3]
    assert indices(exits) == [4, 5]


def test_arbitrage_without_a_reference_is_refused():
    with pytest.raises(ValidationFailed):
        signals("arbitrage", candles([1, 2, 3]), window=5)


def test_custom_rules_compute_like_the_indicators():
    df = candles([10, 11, 12, 11, 10, 9, 10, 12])
    entries, exits = signals("custom", df, entry_rule="close > sma(3) and rsi(2) < 60", exit_rule="close < ema(2)")
    sma3, rsi2 = ind.sma(df["close"], 3), ind.rsi(df["close"], 2)
    assert indices(entries) == indices((df["close"] > sma3) & (rsi2 < 60))
    assert indices(exits) == indices(df["close"] < ind.ema(df["close"], 2))
    # bar 6: close 10 > sma3 9.67 and RSI 56.25; bar 7: close 12 > 10.33 but RSI 85.4
    assert indices(entries) == [6]


def test_custom_crosses_and_arithmetic():
    df = candles([10, 10, 10, 9, 8, 9, 11, 12, 10, 8])
    entries, exits = signals(
        "custom", df, entry_rule="crosses_above(sma(2), sma(3))", exit_rule="crosses_below(sma(2), sma(3))"
    )
    assert indices(entries) == [6]
    assert indices(exits) == [3, 9]
    entries, _ = signals("custom", df, entry_rule="close * 2 - 1 >= 23", exit_rule="close < 0")
    assert indices(entries) == [7]


def test_ml_model_never_looks_ahead():
    rng = np.random.default_rng(7)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 700)))
    df = candles(closes)
    params = strategies.get("ml_model").validate({"train_window": 200, "retrain_every": 50})
    proba = ml.walk_forward_proba(df, params)
    # Change the future after bar 500: nothing predicted up to bar 500 may move.
    changed = candles(np.concatenate([closes[:501], closes[501:] * rng.uniform(0.5, 1.5, 199)]))
    again = ml.walk_forward_proba(changed, params)
    assert np.allclose(proba.iloc[:501].to_numpy(), again.iloc[:501].to_numpy(), equal_nan=True)
    assert proba.notna().sum() > 500  # it did predict
    assert ((proba.dropna() >= 0) & (proba.dropna() <= 1)).all()
    entries, exits = strategies.get("ml_model").signals(df, params)
    assert indices(entries) == indices(proba > 0.55)
    assert indices(exits) == indices(proba < 0.45)


def test_ml_fitted_model_is_plain_numbers():
    rng = np.random.default_rng(3)
    df = candles(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 400))))
    model = ml.train_latest(df, 300)
    assert set(model) == {"features", "mean", "scale", "coef", "intercept"}
    x = ml.features(df).dropna().to_numpy()
    p = ml.predict(model, x)
    assert ((p > 0) & (p < 1)).all()


@pytest.mark.parametrize(
    "name,params,field",
    [
        ("moving_average", {"short_period": 50, "long_period": 20}, "parameters.long_period"),
        ("moving_average", {"short_period": "x"}, "parameters.short_period"),
        ("moving_average", {"short_period": 2.5}, "parameters.short_period"),
        ("rsi", {"rsi_period": 0}, "parameters.rsi_period"),
        ("rsi", {"smoothing": "ema"}, "parameters.smoothing"),
        ("macd", {"fast_period": True}, "parameters.fast_period"),
        ("bollinger", {"bb_std": "nan"}, "parameters.bb_std"),
        ("custom", {"entry_rule": "rsi(14) <"}, "parameters.entry_rule"),
        ("arbitrage", {"entry_z": 1, "exit_z": 2}, "parameters.exit_z"),
    ],
)
def test_parameters_are_checked_against_the_schema(name, params, field):
    with pytest.raises(ValidationFailed) as exc:
        strategies.get(name).validate(params)
    assert field in exc.value.fields


def test_every_strategy_publishes_a_schema():
    assert list(strategies.STRATEGIES) == [
        "moving_average",
        "rsi",
        "macd",
        "bollinger",
        "arbitrage",
        "ml_model",
        "custom",
    ]
    for strategy in strategies.STRATEGIES.values():
        schema = strategy.schema()
        assert schema["parameters"], strategy.name
        for param in schema["parameters"]:
            assert {"name", "type", "default", "label"} <= set(param)
        # the defaults pass their own validation
        assert strategy.validate({}) == strategy.defaults()
    with pytest.raises(ValidationFailed):
        strategies.get("martingale")
