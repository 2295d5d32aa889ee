"""The backtest's entry points: ``POST /api/v1/backtests/`` and ``flask bots backtest`` give the engine's result."""

import json
from decimal import Decimal

import pytest

from tests.bots.conftest import HISTORY, history
from tradeapp.services.bots import backtest as bt

KEYS = {
    "trades",
    "total_return_pct",
    "buy_hold_return_pct",
    "max_drawdown_pct",
    "win_rate",
    "num_trades",
    "exposure_pct",
    "sharpe",
    "sortino",
    "profit_factor",
    "equity_curve",
}


def floats(value):
    """The test client reads JSON numbers as Decimals: compare as floats."""
    if isinstance(value, dict):
        return {k: floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [floats(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    return value


def expected(df, strategy, params, **settings):
    return bt.backtest(strategy, params, df, bt.Settings(**settings)).to_dict()


def test_api_backtest_with_defaults(auth_api_client, btc_history, pairs):
    start, end = btc_history.index[0].isoformat(), btc_history.index[-1].isoformat()
    body = {
        "strategy": "moving_average",
        "parameters": {},
        "trading_pair": pairs["BTC/USD"].id,
        "start": start,
        "end": end,
    }
    response = auth_api_client.post("/api/v1/backtests/", json=body)
    assert response.status_code == 200, response.json
    out = floats(response.json)
    assert set(out) >= KEYS
    # defaults: 1h, capital 10000, the pair's taker fee (0.2 %), stake 0.1, no stops
    want = expected(btc_history, "moving_average", {}, fee_pct=0.2, stake_fraction=0.1)
    assert out["num_trades"] == want["num_trades"] > 0
    assert out["trades"] == want["trades"]
    assert out["total_return_pct"] == want["total_return_pct"]
    assert len(out["equity_curve"]) == len(btc_history)
    assert (out["fee_percentage"], out["stake_fraction"], out["initial_capital"]) == (0.2, 0.1, 10000.0)
    assert out["parameters"] == {"short_period": 20, "long_period": 50}


def test_api_backtest_with_every_setting_and_a_symbol(auth_api_client, btc_history):
    body = {
        "strategy": "rsi",
        "parameters": {"rsi_period": 10, "oversold_level": "35"},
        "trading_pair": "BTC-USD",
        "timeframe": "1h",
        "start": "2017-07-01",
        "end": "2017-07-20T00:00:00Z",
        "initial_capital": "5000",
        "fee_percentage": 0.05,
        "stake_fraction": "0.5",
        "stop_loss_percentage": 2,
        "take_profit_percentage": "4",
        "max_position_size": 2000,
    }
    out = floats(auth_api_client.post("/api/v1/backtests/", json=body).json)
    df = btc_history.loc[:"2017-07-20T00:00:00Z"]
    want = expected(
        df,
        "rsi",
        {"rsi_period": 10, "oversold_level": 35},
        initial_capital=5000,
        fee_pct=0.05,
        stake_fraction=0.5,
        stop_loss_pct=2,
        take_profit_pct=4,
        max_position_size=2000,
    )
    assert out["trades"] == want["trades"] and out["num_trades"] > 0
    assert {t["exit_reason"] for t in out["trades"]} <= {"signal", "stop_loss", "take_profit", "end"}
    assert out["end"] == "2017-07-20T00:00:00Z"


@pytest.mark.parametrize(
    "body,fields",
    [
        ({}, {"strategy", "parameters", "trading_pair"}),
        ({"strategy": "rsi", "parameters": {"rsi_period": 1}, "trading_pair": "BTC-USD"}, {"parameters.rsi_period"}),
        ({"strategy": "nope", "parameters": {}, "trading_pair": "BTC-USD"}, {"strategy"}),
        ({"strategy": "rsi", "parameters": {}, "trading_pair": "DOGE-USD"}, {"trading_pair"}),
        ({"strategy": "rsi", "parameters": {}, "trading_pair": "BTC-USD", "timeframe": "2h"}, {"timeframe"}),
        ({"strategy": "rsi", "parameters": {}, "trading_pair": "BTC-USD", "start": "yesterday"}, {"start"}),
        (
            {
                "strategy": "rsi",
                "parameters": {},
                "trading_pair": "BTC-USD",
                "stake_fraction": 2,
                "fee_percentage": "x",
            },
            {"stake_fraction", "fee_percentage"},
        ),
        (
            {
                "strategy": "rsi",
                "parameters": {},
                "trading_pair": "BTC-USD",
                "start": "2030-01-02",
                "end": "2030-01-01",
            },
            {"start"},
        ),
        (
            {"strategy": "custom", "parameters": {"entry_rule": "eval(1) > 0"}, "trading_pair": 1},
            {"parameters.entry_rule"},
        ),
    ],
)
def test_api_backtest_refuses_bad_input(auth_api_client, btc_history, body, fields):
    response = auth_api_client.post("/api/v1/backtests/", json=body)
    assert response.status_code == 400
    assert set(response.json["fields"]) >= fields, response.json


def test_api_backtest_without_candles_says_so(auth_api_client, pairs):
    body = {"strategy": "rsi", "parameters": {}, "trading_pair": "ETH-USD", "start": "2020-01-01", "end": "2020-02-01"}
    response = auth_api_client.post("/api/v1/backtests/", json=body)
    assert response.status_code == 400 and response.json["code"] == "no_candles"


def test_api_backtest_needs_a_token(api_client, pairs):
    response = api_client.post("/api/v1/backtests/", json={"strategy": "rsi", "parameters": {}, "trading_pair": 1})
    assert response.status_code == 401


def test_api_arbitrage_against_a_reference_pair(auth_api_client, db, btc_history, pairs):
    from tests.bots.conftest import store_history

    # ETH/USD: the same history, scaled and bent, so the spread moves
    eth = btc_history.copy()
    bend = 1 + 0.05 * __import__("numpy").sin(__import__("numpy").arange(len(eth)) / 15)
    for key in ("open", "high", "low", "close"):
        eth[key] = eth[key] / 20 * bend
    eth["high"], eth["low"] = eth[["open", "high", "close"]].max(axis=1), eth[["open", "low", "close"]].min(axis=1)
    store_history(db, pairs["ETH/USD"], eth)
    body = {
        "strategy": "arbitrage",
        "parameters": {"reference_pair": "ETH/USD", "window": 30, "entry_z": 1.5, "exit_z": 0.2},
        "trading_pair": "BTC-USD",
        "start": btc_history.index[0].isoformat(),
        "end": btc_history.index[-1].isoformat(),
    }
    out = floats(auth_api_client.post("/api/v1/backtests/", json=body).json)
    assert out["num_trades"] > 0, out
    stored_eth = bt.frame(eth.index, eth.open.round(8), eth.high.round(8), eth.low.round(8), eth.close.round(8))
    want = expected(bt.with_reference(btc_history, stored_eth), "arbitrage", body["parameters"], fee_pct=0.2)
    assert out["trades"] == want["trades"]


def test_cli_csv_json_matches_the_engine(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["bots", "backtest", "--strategy", "rsi", "--params", '{"rsi_period": 10}', "--csv", HISTORY, "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) >= KEYS
    want = expected(bt.read_csv(HISTORY), "rsi", {"rsi_period": 10}, fee_pct=0.1, stake_fraction=1.0)
    assert out["trades"] == want["trades"] and out["total_return_pct"] == want["total_return_pct"]
    assert out["sharpe"] == want["sharpe"]  # annualised from the CSV's 1 h spacing


def test_cli_stored_candles_prints_the_metrics_table(app, btc_history):
    runner = app.test_cli_runner()
    args = ["bots", "backtest", "--strategy", "moving_average", "--symbol", "BTC-USD", "--timeframe", "1h"]
    args += ["--start", btc_history.index[0].isoformat(), "--end", btc_history.index[-1].isoformat()]
    args += ["--cash", "10000", "--fee", "0.1", "--stake", "1.0"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    want = expected(btc_history, "moving_average", {}, fee_pct=0.1, stake_fraction=1.0)
    assert "Total return %" in result.output and f"{want['total_return_pct']:.2f}" in result.output
    assert f"{want['num_trades']:d}" in result.output


def test_cli_refuses_bad_input(app, tmp_path):
    runner = app.test_cli_runner()
    both = runner.invoke(args=["bots", "backtest", "--strategy", "rsi", "--symbol", "BTC-USD", "--csv", HISTORY])
    assert both.exit_code != 0 and "either --symbol" in both.output
    bad = tmp_path / "bad.csv"
    bad.write_text("when,price\n1,2\n")
    result = runner.invoke(args=["bots", "backtest", "--strategy", "rsi", "--csv", str(bad)])
    assert result.exit_code != 0 and "Date, Open, High, Low, Close" in result.output
    result = runner.invoke(args=["bots", "backtest", "--strategy", "rsi", "--params", "{x", "--csv", HISTORY])
    assert result.exit_code != 0 and "not JSON" in result.output


def test_csv_in_the_common_export_format(tmp_path):
    path = tmp_path / "export.csv"
    df = history(60)
    lines = ["Date,Open,High,Low,Close,Volume"]
    lines += [f"{ts:%Y-%m-%d %H:%M:%S},{r.open},{r.high},{r.low},{r.close},{r.volume}" for ts, r in df.iterrows()]
    path.write_text("\n".join(lines) + "\n")
    loaded = bt.read_csv(str(path))
    assert loaded.index.equals(df.index)
    assert loaded["close"].tolist() == df["close"].tolist()
    assert bt.infer_timeframe_seconds(loaded) == 3600
