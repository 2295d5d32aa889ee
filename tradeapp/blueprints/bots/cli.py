"""``flask --app wsgi bots backtest …``: backtest a strategy on stored candles or an OHLCV CSV file."""

import json

import click
from flask.cli import AppGroup

from tradeapp.errors import ValidationFailed
from tradeapp.extensions import db
from tradeapp.services.bots import backtest as bt
from tradeapp.services.bots.strategies import STRATEGIES

bots_cli = AppGroup("bots", help="Trading bots: backtests and evaluation.")

ROWS = (
    ("Trades", "num_trades", "{:d}"),
    ("Total return %", "total_return_pct", "{:.2f}"),
    ("Buy & hold return %", "buy_hold_return_pct", "{:.2f}"),
    ("Max drawdown %", "max_drawdown_pct", "{:.2f}"),
    ("Win rate %", "win_rate", "{:.2f}"),
    ("Exposure %", "exposure_pct", "{:.2f}"),
    ("Sharpe", "sharpe", "{:.3f}"),
    ("Sortino", "sortino", "{:.3f}"),
    ("Profit factor", "profit_factor", "{:.3f}"),
    ("Final equity", "final_equity", "{:,.2f}"),
)


def metrics_table(result: dict) -> str:
    lines = [f"{result.get('strategy', '')} {json.dumps(result.get('parameters', {}))}"]
    if result.get("symbol"):
        lines.append(f"{result['symbol']} {result['timeframe']}  {result['start']} → {result['end']}")
    for label, key, fmt in ROWS:
        value = result.get(key)
        lines.append(f"  {label:<22}{'n/a' if value is None else fmt.format(value):>16}")
    return "\n".join(lines)


@bots_cli.command("backtest")
@click.option("--strategy", required=True, type=click.Choice(list(STRATEGIES)), help="Strategy name.")
@click.option("--params", "params_json", default="{}", show_default=True, help="Parameters as a JSON object.")
@click.option("--symbol", help="A platform pair, e.g. BTC-USD (its stored candles).")
@click.option("--timeframe", default="1h", show_default=True, help="1m, 5m, 15m, 1h, 4h or 1d (with --symbol).")
@click.option("--start", help="ISO 8601 start (with --symbol; default 1,000 bars before --end).")
@click.option("--end", help="ISO 8601 end (with --symbol; default now).")
@click.option("--csv", "csv_path", type=click.Path(exists=True, dir_okay=False), help="An OHLCV CSV file.")
@click.option("--ref-csv", type=click.Path(exists=True, dir_okay=False), help="Reference pair's CSV (arbitrage).")
@click.option("--cash", default=10000.0, show_default=True, type=float, help="Initial capital.")
@click.option("--fee", default=0.1, show_default=True, type=float, help="Fee, % per side on the notional.")
@click.option("--stake", default=1.0, show_default=True, type=float, help="Fraction of equity per entry.")
@click.option("--stop-loss", default=0.0, show_default=True, type=float, help="Stop-loss % (0: off).")
@click.option("--take-profit", default=0.0, show_default=True, type=float, help="Take-profit % (0: off).")
@click.option("--max-position", default=None, type=float, help="Cap on a position's notional.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
def backtest_command(
    strategy,
    params_json,
    symbol,
    timeframe,
    start,
    end,
    csv_path,
    ref_csv,
    cash,
    fee,
    stake,
    stop_loss,
    take_profit,
    max_position,
    as_json,
):
    """Backtest a strategy and print its metrics (or the whole result with --json)."""
    if bool(symbol) == bool(csv_path):
        raise click.UsageError("Give either --symbol (stored candles) or --csv FILE.")
    try:
        params = json.loads(params_json)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--params") from None
    settings = {
        "initial_capital": cash,
        "fee_percentage": fee,
        "stake_fraction": stake,
        "stop_loss_percentage": stop_loss,
        "take_profit_percentage": take_profit,
        "max_position_size": max_position,
    }
    try:
        if symbol:
            data = {"strategy": strategy, "parameters": params, "trading_pair": symbol, "timeframe": timeframe}
            result = bt.run_stored(data | {"start": start, "end": end} | settings)
            db.session.rollback()
        else:
            df = bt.read_csv(csv_path)
            if ref_csv:
                df = bt.with_reference(df, bt.read_csv(ref_csv))
            config = bt.settings_from(settings, default_fee=fee, timeframe_seconds=bt.infer_timeframe_seconds(df))
            result = bt.backtest(strategy, params, df, config)
    except ValidationFailed as exc:
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.fields.items())
        raise click.ClickException(f"{exc.message} {details}".strip()) from None
    out = result.to_dict()
    if as_json:
        click.echo(json.dumps(out))
    else:
        click.echo(metrics_table(out))
