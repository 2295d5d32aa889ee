"""``flask --app wsgi feed run [--once]``: the market feed process."""

import signal

import click
from flask import current_app
from flask.cli import AppGroup

from tradeapp.market.runner import FeedRunner

feed_cli = AppGroup("feed", help="Market feed.")


@feed_cli.command("run")
@click.option("--once", is_flag=True, help="Publish one round of quotes, print them and exit.")
@click.option("--interval", type=float, default=None, help="Seconds between rounds (default: FEED_INTERVAL).")
def run_command(once, interval):
    """Publish quotes for every active pair until stopped (Ctrl-C or SIGTERM)."""
    runner = FeedRunner(current_app._get_current_object(), interval=interval)
    if once:
        quotes = runner.tick_once()
        for symbol, quote in quotes.items():
            click.echo(f"{symbol:<10} last {quote['last']:>12}  bid {quote['bid']:>12}  ask {quote['ask']:>12}")
        if not quotes and not runner.failures:
            click.echo("no active trading pairs (load some with: flask --app wsgi seed demo)")
        if runner.failures:
            raise click.ClickException(f"no quote for {', '.join(sorted(runner.failures))} (see the log)")
        return
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    click.echo(f"feed {runner.feed.name}: publishing every {runner.interval:g} s (Ctrl-C to stop)")
    try:
        runner.run()
    except KeyboardInterrupt:
        runner.stop()
