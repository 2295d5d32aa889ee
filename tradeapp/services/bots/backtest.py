"""The backtester: a strategy's signals over OHLCV bars, vectorised, with exact and stated conventions.

Conventions (the docs and ``tests/bots/test_backtest_conventions.py`` say the same):

- Signals are computed on a bar's close and fill at the **next bar's open**. A signal on the last
  bar has no next bar and is ignored.
- Long only, one position at a time: what counts is the book at the signal bar's close. Flat, only
  entry signals count (an exit signal on the same bar means nothing to a flat book); in a
  position, only exit signals count (an entry signal on the same bar is ignored).
- Each entry invests ``stake_fraction`` of equity (all cash, since the backtest is flat when it
  enters), fee included: quantity = stake / (open × (1 + fee)); the position's notional is capped
  by ``max_position_size`` (in the quote currency) when given.
- The fee is ``fee_pct`` % per side on the notional (entry and exit).
- Stop-loss / take-profit are percentages of the entry price (0 disables them), checked against
  each bar's low / high from the entry bar on; they fill at the stop price, or at the bar's open if
  the bar opened beyond it; when both are hit in one bar the stop-loss fills (the worse case).
  A position closed by a stop may re-enter on a signal from that bar's close.
- A position still open after the last bar closes at the last close (fee charged) and counts as a trade.
- The equity curve is cash + quantity × close at each bar's close (the last bar after the final close).
- Metrics: total and buy-and-hold return % (first close to last close, no fees), max drawdown %
  (a positive number, from the running peak, the initial capital included), win rate % (trades
  with P&L > 0), exposure % (bars whose close found a position open), Sharpe and Sortino of the
  per-bar equity returns annualised with ``sqrt(bars per year)`` (365-day year, risk-free 0;
  Sortino's downside deviation over all bars), profit factor (gross profit / gross loss). A
  metric that is undefined (no variance, no losing trade) is ``null``.

Only the walk from one trade to the next is a Python loop (per trade, not per bar): each step
finds the next entry signal, the next exit signal and the first stop/target hit with numpy.
"""

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
from sqlalchemy import select

from tradeapp.errors import ValidationFailed
from tradeapp.extensions import db
from tradeapp.market.base import TIMEFRAMES
from tradeapp.models import Candle, TradingPair
from tradeapp.services.bots import strategies

#: the most bars one backtest reads (a year of minutes)
MAX_BARS = 600_000
YEAR_SECONDS = 365 * 86400


@dataclass
class Settings:
    """What a backtest trades with (percentages as percent: ``fee_pct=0.1`` is 0.1 %)."""

    initial_capital: float = 10_000.0
    fee_pct: float = 0.1
    stake_fraction: float = 0.1
    stop_loss_pct: float = 0.0
    take_profit_pct: float = 0.0
    max_position_size: float | None = None
    timeframe_seconds: int = 3600


@dataclass
class Result:
    """Trades, the equity curve and the metrics of one run."""

    times: pd.DatetimeIndex
    equity: np.ndarray
    trades: list[dict]
    metrics: dict
    settings: Settings
    extra: dict = field(default_factory=dict)

    def to_dict(self, *, equity_curve: bool = True) -> dict:
        """The JSON answer (API and ``--json``): ISO 8601 times, rounded floats."""
        out = {
            "trades": [
                {
                    "entry_time": _iso(t["entry_time"]),
                    "exit_time": _iso(t["exit_time"]),
                    "entry_price": _r(t["entry_price"], 8),
                    "exit_price": _r(t["exit_price"], 8),
                    "quantity": _r(t["quantity"], 10),
                    "fees": _r(t["fees"], 8),
                    "pnl": _r(t["pnl"], 8),
                    "return_pct": _r(t["return_pct"], 6),
                    "exit_reason": t["exit_reason"],
                }
                for t in self.trades
            ],
            **{key: (_r(value, 6) if isinstance(value, float) else value) for key, value in self.metrics.items()},
        }
        if equity_curve:
            out["equity_curve"] = [
                {"time": _iso(t), "equity": _r(float(v), 8)} for t, v in zip(self.times, self.equity, strict=True)
            ]
        out.update(self.extra)
        return out


def _iso(ts) -> str:
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _r(value, digits: int):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return round(float(value), digits)


def next_true(mask: np.ndarray) -> np.ndarray:
    """For each index i, the smallest j ≥ i with mask[j], or len(mask) when there is none."""
    n = len(mask)
    idx = np.where(mask, np.arange(n), n)
    return np.minimum.accumulate(idx[::-1])[::-1]


def run(df: pd.DataFrame, entries, exits, settings: Settings) -> Result:
    """Trade ``entries``/``exits`` (booleans per bar) over ``df`` under the module's conventions."""
    n = len(df)
    o = df["open"].to_numpy(dtype=float)
    h = df["high"].to_numpy(dtype=float)
    lo = df["low"].to_numpy(dtype=float)
    c = df["close"].to_numpy(dtype=float)
    exit_mask = np.asarray(exits, dtype=bool)
    entry_mask = np.asarray(entries, dtype=bool)
    next_entry, next_exit = next_true(entry_mask), next_true(exit_mask)
    fee = settings.fee_pct / 100.0
    sl, tp = settings.stop_loss_pct / 100.0, settings.take_profit_pct / 100.0

    cash = float(settings.initial_capital)
    cash_change = np.full(n, np.nan)
    equity = np.empty(n)
    held = np.zeros(n, dtype=bool)
    trades: list[dict] = []
    search = 0
    while search < n:
        k = next_entry[search]
        if k >= n - 1:
            break
        e = k + 1
        entry_price = o[e]
        qty = cash * settings.stake_fraction / (entry_price * (1.0 + fee))
        if settings.max_position_size is not None:
            qty = min(qty, settings.max_position_size / entry_price)
        if not qty > 0:
            break
        entry_fee = qty * entry_price * fee
        cost = qty * entry_price + entry_fee
        rest = cash - cost
        j = next_exit[e]
        signal_bar = j + 1 if j < n - 1 else n  # the bar whose open fills the exit signal, n = none
        last = min(signal_bar, n) - 1  # bars to watch for stops: e … last
        exit_bar, exit_price, reason = None, None, None
        if sl > 0 or tp > 0:
            stop_hits = lo[e : last + 1] <= entry_price * (1 - sl) if sl > 0 else np.zeros(0, dtype=bool)
            target_hits = h[e : last + 1] >= entry_price * (1 + tp) if tp > 0 else np.zeros(0, dtype=bool)
            first_stop = e + int(np.argmax(stop_hits)) if stop_hits.any() else n
            first_target = e + int(np.argmax(target_hits)) if target_hits.any() else n
            if first_stop < n and first_stop <= first_target:
                exit_bar, reason = first_stop, "stop_loss"
                exit_price = min(o[exit_bar], entry_price * (1 - sl))
            elif first_target < n:
                exit_bar, reason = first_target, "take_profit"
                exit_price = max(o[exit_bar], entry_price * (1 + tp))
        if exit_bar is None:
            if signal_bar < n:
                exit_bar, exit_price, reason = signal_bar, o[signal_bar], "signal"
            else:
                exit_bar, exit_price, reason = n - 1, c[n - 1], "end"
        hold_end = exit_bar + 1 if reason == "end" else exit_bar
        equity[e:hold_end] = rest + qty * c[e:hold_end]
        held[e:hold_end] = True
        exit_fee = qty * exit_price * fee
        proceeds = qty * exit_price - exit_fee
        cash = rest + proceeds
        cash_change[exit_bar] = cash
        pnl = proceeds - cost
        trades.append(
            {
                "entry_time": df.index[e],
                "exit_time": df.index[exit_bar],
                "entry_bar": e,
                "exit_bar": exit_bar,
                "entry_price": entry_price,
                "exit_price": exit_price,
                "quantity": qty,
                "fees": entry_fee + exit_fee,
                "pnl": pnl,
                "return_pct": pnl / cost * 100.0,
                "exit_reason": reason,
            }
        )
        if reason == "end":
            break
        search = exit_bar if reason in ("stop_loss", "take_profit") else signal_bar

    # Flat bars hold the cash of the last exit before them (or the initial capital).
    cash_change[0] = settings.initial_capital if np.isnan(cash_change[0]) else cash_change[0]
    flat = pd.Series(cash_change).ffill().to_numpy()
    equity = np.where(held, equity, flat)
    if trades and trades[-1]["exit_reason"] == "end":
        equity[-1] = cash
    return Result(df.index, equity, trades, metrics(df, equity, trades, held, settings), settings)


def metrics(df: pd.DataFrame, equity: np.ndarray, trades: list[dict], held: np.ndarray, settings: Settings) -> dict:
    """The summary numbers of a run (see the module docstring for their definitions)."""
    capital = float(settings.initial_capital)
    close = df["close"].to_numpy(dtype=float)
    curve = np.concatenate([[capital], equity])
    peak = np.maximum.accumulate(curve)
    returns = curve[1:] / curve[:-1] - 1.0
    per_year = math.sqrt(YEAR_SECONDS / settings.timeframe_seconds)
    sharpe = sortino = None
    if len(returns) > 1:
        std = returns.std(ddof=1)
        if std > 0:
            sharpe = float(returns.mean() / std * per_year)
        downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
        if downside > 0:
            sortino = float(returns.mean() / downside * per_year)
    pnls = np.array([t["pnl"] for t in trades], dtype=float)
    wins = int((pnls > 0).sum())
    gross_profit, gross_loss = float(pnls[pnls > 0].sum()), float(-pnls[pnls < 0].sum())
    return {
        "total_return_pct": float((equity[-1] / capital - 1.0) * 100.0),
        "buy_hold_return_pct": float((close[-1] / close[0] - 1.0) * 100.0),
        "max_drawdown_pct": float(((1.0 - curve / peak).max()) * 100.0),
        "win_rate": float(wins / len(trades) * 100.0) if trades else 0.0,
        "num_trades": len(trades),
        "exposure_pct": float(held.mean() * 100.0),
        "sharpe": sharpe,
        "sortino": sortino,
        "profit_factor": gross_profit / gross_loss if gross_loss > 0 else None,
        "final_equity": float(equity[-1]),
    }


# -- inputs ------------------------------------------------------------------------------------------

FIELDS = ("open", "high", "low", "close", "volume")
TIME_COLUMNS = ("date", "datetime", "time", "timestamp", "timestamp_ms", "open_time", "unix")


def frame(times, opens, highs, lows, closes, volumes=None) -> pd.DataFrame:
    """A checked candle DataFrame indexed by UTC time, oldest first, duplicates dropped."""
    index = pd.DatetimeIndex(times)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    df = pd.DataFrame(
        {
            "open": np.asarray(opens, dtype=float),
            "high": np.asarray(highs, dtype=float),
            "low": np.asarray(lows, dtype=float),
            "close": np.asarray(closes, dtype=float),
            "volume": np.asarray(volumes if volumes is not None else np.zeros(len(index)), dtype=float),
        },
        index=index,
    )
    df.index.name = "time"
    df = df[~df.index.duplicated(keep="last")].sort_index()
    return df


def _check_frame(df: pd.DataFrame) -> pd.DataFrame:
    prices = df[["open", "high", "low", "close"]]
    if prices.isna().any().any() or not np.isfinite(prices.to_numpy()).all():
        raise ValidationFailed("The candles have missing or invalid prices.", {"csv": ["Missing or invalid prices."]})
    if (prices <= 0).any().any():
        raise ValidationFailed("The candles have prices ≤ 0.", {"csv": ["Prices must be positive."]})
    if len(df) < 2:
        raise ValidationFailed("Not enough candles to backtest.", {"csv": ["At least 2 candles are needed."]})
    if len(df) > MAX_BARS:
        raise ValidationFailed("Too many candles.", {"csv": [f"At most {MAX_BARS} candles per backtest."]})
    return df


def read_csv(source) -> pd.DataFrame:
    """An OHLCV CSV (``Date,Open,High,Low,Close,Volume``, any case; or ``timestamp_ms``/unix times).

    ``source`` is a path, a file object or the text itself.
    """
    try:
        raw = pd.read_csv(io.StringIO(source) if isinstance(source, str) and "\n" in source else source)
    except (ValueError, OSError, UnicodeDecodeError, csv.Error, pd.errors.ParserError) as exc:
        raise ValidationFailed("The CSV file could not be read.", {"csv": [str(exc)[:200]]}) from None
    columns = {str(c).strip().lower(): c for c in raw.columns}
    time_col = next((columns[c] for c in TIME_COLUMNS if c in columns), None)
    missing = [f for f in FIELDS[:4] if f not in columns]
    if time_col is None or missing:
        raise ValidationFailed(
            "The CSV needs the columns Date, Open, High, Low, Close (and Volume).",
            {"csv": [f"Missing: {', '.join((['Date'] if time_col is None else []) + [m.title() for m in missing])}."]},
        )
    stamps = raw[time_col]
    try:
        if pd.api.types.is_numeric_dtype(stamps):
            unit = "ms" if stamps.abs().max() > 1e11 else "s"
            times = pd.to_datetime(stamps, unit=unit, utc=True)
        else:
            times = pd.to_datetime(stamps, utc=True, format="mixed")
        values = {f: pd.to_numeric(raw[columns[f]], errors="coerce") for f in FIELDS if f in columns}
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValidationFailed(
            "The CSV has dates or numbers that could not be read.", {"csv": [str(exc)[:200]]}
        ) from None
    df = frame(times, values["open"], values["high"], values["low"], values["close"], values.get("volume"))
    return _check_frame(df)


def infer_timeframe_seconds(df: pd.DataFrame) -> int:
    """The most common bar spacing (for annualising metrics of a CSV)."""
    if len(df) < 2:
        return 3600
    deltas = np.asarray((df.index[1:] - df.index[:-1]).total_seconds(), dtype=np.int64)
    values, counts = np.unique(deltas[deltas > 0], return_counts=True)
    return int(values[np.argmax(counts)]) if len(values) else 3600


def stored_frame(pair: TradingPair, timeframe: str, start: datetime, end: datetime) -> pd.DataFrame:
    """The platform's stored candles of ``pair`` between ``start`` and ``end`` (bar open times, inclusive)."""
    rows = db.session.execute(
        select(Candle.open_time, Candle.open, Candle.high, Candle.low, Candle.close, Candle.volume)
        .where(
            Candle.pair_id == pair.id,
            Candle.timeframe == timeframe,
            Candle.open_time >= int(start.timestamp() * 1000),
            Candle.open_time <= int(end.timestamp() * 1000),
        )
        .order_by(Candle.open_time)
        .limit(MAX_BARS + 1)
    ).all()
    if not rows:
        return frame([], [], [], [], [], [])
    t, o, h, lo, c, v = zip(*rows, strict=True)
    return frame(pd.to_datetime(np.asarray(t, dtype="int64"), unit="ms", utc=True), o, h, lo, c, v)


def with_reference(df: pd.DataFrame, ref: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the reference pair's closes as ``ref_close`` on the bars both have."""
    joined = df.join(ref["close"].rename("ref_close"), how="inner")
    return joined


# -- one call: strategy + data + settings ------------------------------------------------------------


def backtest(strategy_name: str, parameters: dict | None, df: pd.DataFrame, settings: Settings) -> Result:
    """Validate the parameters, compute the strategy's signals on ``df`` and trade them."""
    strategy = strategies.get(strategy_name)
    params = strategy.validate(parameters)
    _check_frame(df)
    entries, exits = strategy.signals(df, params)
    result = run(df, entries, exits, settings)
    result.extra = {"strategy": strategy.name, "parameters": params}
    return result


# -- settings from user input (API, CLI, forms) -------------------------------------------------------


def _number(value, name: str, errors: dict, *, low: float, high: float, allow_low: bool = True) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        errors[name] = ["Enter a number."]
        return None
    try:
        number = float(Decimal(str(value).strip()))
    except (ArithmeticError, ValueError):
        errors[name] = ["Enter a number."]
        return None
    if not math.isfinite(number) or number > high or number < low or (not allow_low and number == low):
        errors[name] = [f"Between {low:g} and {high:g}." if allow_low else f"Above {low:g} and at most {high:g}."]
        return None
    return number


def settings_from(data: dict, *, default_fee: float, timeframe_seconds: int) -> Settings:
    """Settings from API/CLI fields (``initial_capital``, ``fee_percentage``, ``stake_fraction``,
    ``stop_loss_percentage``, ``take_profit_percentage``, ``max_position_size``); ValidationFailed lists all."""
    errors: dict[str, list[str]] = {}
    capital = _number(data.get("initial_capital"), "initial_capital", errors, low=0, high=1e12, allow_low=False)
    fee = _number(data.get("fee_percentage"), "fee_percentage", errors, low=0, high=10)
    stake = _number(data.get("stake_fraction"), "stake_fraction", errors, low=0, high=1, allow_low=False)
    sl = _number(data.get("stop_loss_percentage"), "stop_loss_percentage", errors, low=0, high=99.99)
    tp = _number(data.get("take_profit_percentage"), "take_profit_percentage", errors, low=0, high=10000)
    cap = _number(data.get("max_position_size"), "max_position_size", errors, low=0, high=1e15, allow_low=False)
    if errors:
        raise ValidationFailed("Please correct the highlighted fields.", errors)
    return Settings(
        initial_capital=10_000.0 if capital is None else capital,
        fee_pct=default_fee if fee is None else fee,
        stake_fraction=0.1 if stake is None else stake,
        stop_loss_pct=sl or 0.0,
        take_profit_pct=tp or 0.0,
        max_position_size=cap,
        timeframe_seconds=timeframe_seconds,
    )


def parse_time(value, name: str, errors: dict) -> datetime | None:
    """An ISO 8601 date or date-time (UTC when no zone is given)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        errors[name] = ["An ISO 8601 date, e.g. 2024-01-31 or 2024-01-31T12:00:00Z."]
        return None
    if not 1970 <= parsed.year <= 2200:
        errors[name] = ["A date between 1970 and 2200."]
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def default_window(timeframe: str, end: datetime | None, start: datetime | None) -> tuple[datetime, datetime]:
    """``end`` defaults to now, ``start`` to 1,000 bars before ``end``."""
    end = end or datetime.now(UTC)
    start = start or end - timedelta(seconds=TIMEFRAMES[timeframe] * 1000)
    return start, end


# -- a backtest over the platform's stored candles (API, CLI, pages) -----------------------------------


def resolve_pair(value, field_name: str = "trading_pair") -> TradingPair:
    """The pair named by an id or a symbol (``BTC-USD``/``BTC/USD``); inactive pairs keep their history."""
    pair = None
    if isinstance(value, int) and not isinstance(value, bool):
        pair = db.session.get(TradingPair, value) if 0 < value < 2**63 else None
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) < 19:
            pair = db.session.get(TradingPair, int(text))
        elif len(text) <= 21:
            pair = db.session.scalar(select(TradingPair).where(TradingPair.symbol == text.upper().replace("-", "/")))
    if pair is None:
        raise ValidationFailed("Invalid input.", {field_name: ["No trading pair with this id or symbol."]})
    return pair


def run_stored(data: dict) -> Result:
    """A backtest of ``strategy``/``parameters`` on ``trading_pair``'s stored ``timeframe`` candles.

    Fields (defaults): ``timeframe`` (1h), ``start`` (1,000 bars before ``end``), ``end`` (now),
    ``initial_capital`` (10000), ``fee_percentage`` (the pair's taker fee), ``stake_fraction`` (0.1),
    ``stop_loss_percentage``/``take_profit_percentage`` (0: off), ``max_position_size`` (none).

    :raise ValidationFailed: per field, or when the pair has no candles in the window
    """
    errors: dict[str, list[str]] = {}
    if data.get("strategy") in (None, ""):
        errors["strategy"] = ["Choose a strategy."]
    if "parameters" not in data or data.get("parameters") is None:
        errors["parameters"] = ["Give the strategy's parameters (an object; {} for the defaults)."]
    elif not isinstance(data.get("parameters"), dict):
        errors["parameters"] = ["An object of parameter values."]
    if data.get("trading_pair") in (None, ""):
        errors["trading_pair"] = ["Choose a trading pair."]
    timeframe = str(data.get("timeframe") or "1h")
    if timeframe not in TIMEFRAMES:
        errors["timeframe"] = [f"One of {', '.join(TIMEFRAMES)}."]
    start = parse_time(data.get("start"), "start", errors)
    end = parse_time(data.get("end"), "end", errors)
    if errors:
        raise ValidationFailed("Please correct the highlighted fields.", errors)
    strategy = strategies.get(data["strategy"])
    params = strategy.validate(data["parameters"])
    pair = resolve_pair(data["trading_pair"])
    start, end = default_window(timeframe, end, start)
    if start >= end:
        raise ValidationFailed("Invalid input.", {"start": ["Must be before end."]})
    settings = settings_from(data, default_fee=float(pair.taker_fee), timeframe_seconds=TIMEFRAMES[timeframe])
    df = stored_frame(pair, timeframe, start, end)
    if len(df) < 2:
        raise ValidationFailed(
            f"No stored {timeframe} candles of {pair.symbol} in that window.",
            {"start": ["Choose a window with price history."]},
            code="no_candles",
        )
    if strategy.needs_reference:
        ref_pair = resolve_pair(params.get("reference_pair") or "", "parameters.reference_pair")
        if ref_pair.id == pair.id:
            raise ValidationFailed("Invalid input.", {"parameters.reference_pair": ["Choose a different pair."]})
        df = with_reference(df, stored_frame(ref_pair, timeframe, start, end))
    result = backtest(strategy.name, params, df, settings)
    result.extra |= {
        "trading_pair": pair.id,
        "symbol": pair.symbol,
        "timeframe": timeframe,
        "start": _iso(df.index[0]),
        "end": _iso(df.index[-1]),
        "initial_capital": settings.initial_capital,
        "fee_percentage": settings.fee_pct,
        "stake_fraction": settings.stake_fraction,
        "stop_loss_percentage": settings.stop_loss_pct,
        "take_profit_percentage": settings.take_profit_pct,
        "max_position_size": settings.max_position_size,
    }
    return result


# -- bots' backtests, stored for the pages -------------------------------------------------------------

#: equity points kept in a stored result (the page's chart); the full curve is in the API answer
STORED_POINTS = 1500


def bot_request(bot, data: dict) -> dict:
    """A :func:`run_stored` request from the bot's own settings, the window and capital from ``data``."""
    pairs = list(bot.trading_pairs)
    params = dict(bot.parameters or {})
    if bot.strategy == "arbitrage" and len(pairs) > 1:
        params["reference_pair"] = pairs[1].symbol
    return {
        "strategy": bot.strategy,
        "parameters": params,
        "trading_pair": pairs[0].id if pairs else None,
        "timeframe": data.get("timeframe") or bot.timeframe,
        "start": data.get("start"),
        "end": data.get("end"),
        "initial_capital": data.get("initial_capital"),
        "fee_percentage": data.get("fee_percentage"),
        "stake_fraction": data.get("stake_fraction"),
        "stop_loss_percentage": bot.stop_loss_percentage,
        "take_profit_percentage": bot.take_profit_percentage,
        "max_position_size": bot.max_position_size,
    }


def save(user_id: int, bot_id: int | None, result: dict):
    """Store ``result`` (trades and a thinned equity curve) as a Backtest row in the caller's unit of work."""
    from tradeapp.models import Backtest

    curve = result.get("equity_curve", [])
    step = max(1, math.ceil(len(curve) / STORED_POINTS))
    thinned = curve[::step] + ([curve[-1]] if curve and (len(curve) - 1) % step else [])
    summary = {k: v for k, v in result.items() if k not in ("trades", "equity_curve")}
    row = Backtest(
        user_id=user_id,
        bot_id=bot_id,
        strategy=result["strategy"],
        symbol=result.get("symbol", ""),
        timeframe=result.get("timeframe", ""),
        summary=summary,
        result={"trades": result["trades"], "equity_curve": thinned},
    )
    db.session.add(row)
    db.session.flush()
    return row
