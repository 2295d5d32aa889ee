"""The backtest conventions, case by case, on candles small enough to check by hand."""

import math

import numpy as np
import pytest

from tests.bots.helpers import candles
from tradeapp.services.bots import backtest as bt

S = bt.Settings


def mask(n, *bars):
    out = np.zeros(n, dtype=bool)
    out[list(bars)] = True
    return out


def test_signal_on_close_fills_at_next_open_with_fees():
    #        bar:   0    1    2    3    4    5
    opens = [100, 101, 102, 110, 120, 125]
    closes = [100, 101, 105, 115, 121, 126]
    df = candles(closes, opens=opens)
    r = bt.run(df, mask(6, 1), mask(6, 3), S(initial_capital=1000, fee_pct=1.0, stake_fraction=0.5))
    (t,) = r.trades
    assert (t["entry_bar"], t["exit_bar"]) == (2, 4)
    assert t["entry_price"] == 102 and t["exit_price"] == 120
    qty = 500 / (102 * 1.01)  # half the equity, fee included
    assert t["quantity"] == pytest.approx(qty)
    entry_fee, exit_fee = qty * 102 * 0.01, qty * 120 * 0.01
    assert t["fees"] == pytest.approx(entry_fee + exit_fee)
    assert t["pnl"] == pytest.approx(qty * 120 - exit_fee - 500)
    assert t["return_pct"] == pytest.approx(t["pnl"] / 500 * 100)
    assert t["exit_reason"] == "signal"
    # equity: cash before entry; rest + qty × close while held; cash after
    assert r.equity[:2].tolist() == [1000, 1000]
    assert r.equity[2] == pytest.approx(500 + qty * 105)
    assert r.equity[3] == pytest.approx(500 + qty * 115)
    assert r.equity[4] == r.equity[5] == pytest.approx(1000 + t["pnl"])
    assert r.metrics["exposure_pct"] == pytest.approx(2 / 6 * 100)  # closes of bars 2 and 3


def test_signal_on_the_last_bar_is_ignored():
    df = candles([10, 11, 12])
    r = bt.run(df, mask(3, 2), mask(3), S())
    assert r.trades == [] and r.metrics["num_trades"] == 0
    assert r.metrics["total_return_pct"] == 0.0


def test_one_position_at_a_time_and_exits_while_flat_mean_nothing():
    df = candles(list(range(10, 22)))
    entries, exits = mask(12, 1, 2, 3, 7), mask(12, 0, 5, 6)
    r = bt.run(df, entries, exits, S(fee_pct=0))
    # enter at 2 (signal 1); entries at 2, 3 ignored; exit at 6 (signal 5); the exit at 6 is flat;
    # entry signal 7 → bar 8, still open at the end → closes at the last close
    assert [(t["entry_bar"], t["exit_bar"], t["exit_reason"]) for t in r.trades] == [(2, 6, "signal"), (8, 11, "end")]


def test_entry_and_exit_on_the_same_bar():
    df = candles([10, 11, 12, 13, 14, 15])
    # flat at bar 1: the entry counts; in the position at bar 3: the exit counts
    r = bt.run(df, mask(6, 1, 3), mask(6, 1, 3), S())
    assert [(t["entry_bar"], t["exit_bar"]) for t in r.trades] == [(2, 4)]


def test_stake_fraction_and_max_position_size():
    df = candles([100, 100, 100, 100])
    r = bt.run(df, mask(4, 0), mask(4, 2), S(initial_capital=10_000, fee_pct=0, stake_fraction=0.1))
    assert r.trades[0]["quantity"] == pytest.approx(10.0)  # 10 % of 10,000 at 100
    capped = bt.run(
        df, mask(4, 0), mask(4, 2), S(initial_capital=10_000, fee_pct=0, stake_fraction=1.0, max_position_size=250)
    )
    assert capped.trades[0]["quantity"] == pytest.approx(2.5)


def test_stake_compounds_on_equity():
    # half of 100 buys 5 at 10 (bar 1) and sells at 20 (bar 2): +50; the 2nd entry stakes half of 150
    df = candles([10, 10, 20, 20, 20, 20], opens=[10, 10, 20, 20, 20, 20])
    r = bt.run(df, mask(6, 0, 3), mask(6, 1), S(initial_capital=100, fee_pct=0, stake_fraction=0.5))
    first, second = r.trades
    assert first["pnl"] == pytest.approx(50.0)
    assert second["quantity"] == pytest.approx(150 * 0.5 / 20)


def test_stop_loss_fills_at_the_stop_price():
    opens = [100, 100, 100, 99, 98]
    lows = [100, 100, 97, 96, 97]
    closes = [100, 100, 99, 98, 98]
    df = candles(closes, opens=opens, lows=lows, highs=[101] * 5)
    r = bt.run(df, mask(5, 0), mask(5), S(fee_pct=0, stake_fraction=1, stop_loss_pct=2))
    (t,) = r.trades
    # entry 100 at bar 1; stop 98: bar 2's low 97 reaches it → filled at 98, not at the low
    assert (t["exit_bar"], t["exit_price"], t["exit_reason"]) == (2, pytest.approx(98.0), "stop_loss")
    assert t["return_pct"] == pytest.approx(-2.0)


def test_stop_loss_gap_fills_at_the_open():
    df = candles([100, 100, 100, 90, 90], opens=[100, 100, 100, 91, 90], highs=[101] * 5, lows=[99, 99, 99, 89, 89])
    r = bt.run(df, mask(5, 0), mask(5), S(fee_pct=0, stake_fraction=1, stop_loss_pct=5))
    (t,) = r.trades
    assert (t["exit_bar"], t["exit_price"]) == (3, 91.0)  # opened below the stop (95)


def test_take_profit_fills_at_target_or_gap_open():
    df = candles([100, 100, 104, 100], opens=[100, 100, 101, 100], highs=[100, 101, 106, 101], lows=[99] * 4)
    r = bt.run(df, mask(4, 0), mask(4), S(fee_pct=0, stake_fraction=1, take_profit_pct=5))
    assert (r.trades[0]["exit_bar"], r.trades[0]["exit_price"], r.trades[0]["exit_reason"]) == (2, 105.0, "take_profit")
    gap = candles([100, 100, 110, 100], opens=[100, 100, 108, 100], highs=[100, 101, 111, 101], lows=[99] * 4)
    r = bt.run(gap, mask(4, 0), mask(4), S(fee_pct=0, stake_fraction=1, take_profit_pct=5))
    assert r.trades[0]["exit_price"] == 108.0


def test_stop_first_when_both_are_hit_in_one_bar():
    df = candles([100, 100, 100, 100], opens=[100] * 4, highs=[100, 100, 120, 100], lows=[100, 100, 80, 100])
    r = bt.run(df, mask(4, 0), mask(4), S(fee_pct=0, stake_fraction=1, stop_loss_pct=5, take_profit_pct=5))
    assert (r.trades[0]["exit_price"], r.trades[0]["exit_reason"]) == (95.0, "stop_loss")


def test_stops_watch_the_entry_bar_and_zero_disables_them():
    df = candles([100, 90, 90], opens=[100, 100, 90], highs=[100, 100, 90], lows=[100, 85, 85])
    r = bt.run(df, mask(3, 0), mask(3), S(fee_pct=0, stake_fraction=1, stop_loss_pct=10))
    assert (r.trades[0]["entry_bar"], r.trades[0]["exit_bar"], r.trades[0]["exit_price"]) == (1, 1, 90.0)
    off = bt.run(df, mask(3, 0), mask(3), S(fee_pct=0, stake_fraction=1, stop_loss_pct=0, take_profit_pct=0))
    assert off.trades[0]["exit_reason"] == "end" and off.trades[0]["exit_price"] == 90.0


def test_a_stopped_position_may_reenter_from_the_stop_bars_close():
    df = candles([100, 100, 95, 96, 97], opens=[100, 100, 99, 96, 97], highs=[101] * 5, lows=[99, 99, 94, 95, 96])
    r = bt.run(df, mask(5, 0, 2), mask(5), S(fee_pct=0, stake_fraction=1, stop_loss_pct=2))
    assert [(t["entry_bar"], t["exit_bar"], t["exit_reason"]) for t in r.trades] == [(1, 2, "stop_loss"), (3, 4, "end")]


def test_open_position_closes_at_the_last_close_and_counts():
    df = candles([10, 10, 12, 15], opens=[10, 10, 11, 14])
    r = bt.run(df, mask(4, 0), mask(4), S(initial_capital=100, fee_pct=0.5, stake_fraction=1))
    (t,) = r.trades
    assert (t["exit_bar"], t["exit_price"], t["exit_reason"]) == (3, 15.0, "end")
    qty = 100 / (10 * 1.005)
    assert t["fees"] == pytest.approx(qty * 10 * 0.005 + qty * 15 * 0.005)
    assert r.equity[-1] == pytest.approx(100 + t["pnl"])  # the last point is after the final sale
    assert r.metrics["num_trades"] == 1
    assert r.metrics["exposure_pct"] == pytest.approx(75.0)  # bars 1, 2, 3


def test_metrics_by_hand():
    # two trades without fees: +10 % then -5 % on the full stake
    opens = [100, 100, 110, 100, 100, 95, 95]
    closes = [100, 105, 110, 100, 98, 95, 95]
    df = candles(closes, opens=opens)
    r = bt.run(df, mask(7, 0, 3), mask(7, 1, 4), S(initial_capital=1000, fee_pct=0, stake_fraction=1))
    m = r.metrics
    assert [t["return_pct"] for t in r.trades] == pytest.approx([10.0, -5.0])
    assert m["num_trades"] == 2
    assert m["win_rate"] == 50.0
    assert m["total_return_pct"] == pytest.approx((1.10 * 0.95 - 1) * 100)
    assert m["buy_hold_return_pct"] == pytest.approx(-5.0)  # first close 100 → last close 95
    assert m["profit_factor"] == pytest.approx(100 / 55)  # +100 on 1000; -55 on 1100
    # equity: 1000, 1050, 1100, 1100, 1078, 1045, 1045 → worst fall from the 1100 peak to 1045
    assert r.equity.tolist() == pytest.approx([1000, 1050, 1100, 1100, 1078, 1045, 1045])
    assert m["max_drawdown_pct"] == pytest.approx(5.0)
    returns = np.diff(np.concatenate([[1000], r.equity])) / np.concatenate([[1000], r.equity])[:-1]
    yearly = math.sqrt(365 * 24)
    assert m["sharpe"] == pytest.approx(returns.mean() / returns.std(ddof=1) * yearly)
    downside = math.sqrt(np.mean(np.minimum(returns, 0) ** 2))
    assert m["sortino"] == pytest.approx(returns.mean() / downside * yearly)


def test_undefined_metrics_are_null():
    df = candles([10, 10, 10])
    r = bt.run(df, mask(3), mask(3), S())
    assert r.metrics["sharpe"] is None and r.metrics["sortino"] is None and r.metrics["profit_factor"] is None
    assert r.metrics["win_rate"] == 0.0 and r.metrics["max_drawdown_pct"] == 0.0


def test_json_shape():
    df = candles([10, 11, 12, 13], opens=[10, 11, 12, 13])
    out = bt.run(df, mask(4, 0), mask(4, 2), S()).to_dict()
    assert {
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
    } <= set(out)
    (t,) = out["trades"]
    assert {"entry_time", "exit_time", "entry_price", "exit_price", "quantity", "fees", "pnl", "return_pct"} <= set(t)
    assert t["entry_time"] == "2024-01-01T01:00:00Z" and t["exit_time"] == "2024-01-01T03:00:00Z"
    assert out["equity_curve"][0] == {"time": "2024-01-01T00:00:00Z", "equity": 10000.0}
