"""What the market feed does on each tick: the jobs side's hooks for :class:`~tradeapp.market.runner.FeedRunner`.

The feed (a leaf) publishes prices; this module schedules the pair's trigger check on every tick
and stores candles through the trading services. ``create_app`` installs the hooks, so every
runner of the app (the ``feed`` process, the embedded feed, tests and benches) uses them.
"""

from flask import Flask, current_app

from tradeapp.market.base import MarketFeed
from tradeapp.market.runner import FeedHooks, set_hooks
from tradeapp.models import TradingPair
from tradeapp.queues import enqueue
from tradeapp.services.trading import candles


def schedule_trigger_check(symbol: str) -> None:
    """Enqueue the pair's trigger check; one queued check per pair (the job id), no retries (the next tick is one)."""
    enqueue(
        "tradeapp.jobs.trading.check_triggers",
        symbol,
        queue="orders",
        job_id=f"triggers-{symbol.replace('/', '-')}",
        retries=0,
    )
    # Bots' stop-loss/take-profit levels between bars (the bar job checks them at each close).
    enqueue(
        "tradeapp.jobs.bots.check_protection",
        symbol,
        queue="bots",
        job_id=f"bot-protect-{symbol.replace('/', '-')}",
        retries=0,
    )
    # Loans backed by the pair's base currency: only those whose LTV the price crossed are settled.
    enqueue(
        "tradeapp.jobs.loans.check_ltv", symbol, queue="orders", job_id=f"ltv-{symbol.replace('/', '-')}", retries=0
    )


def sync_candles(pair: TradingPair, feed: MarketFeed, backfill: bool) -> int:
    stored = candles.sync(pair, feed, backfill=backfill)
    if current_app.config["EMBEDDED"]:
        # No cron in embedded mode: bots are evaluated once their bar's candle is stored.
        from tradeapp.jobs.bots import embedded_catch_up

        embedded_catch_up(current_app)
    return stored


def init_app(app: Flask) -> None:
    set_hooks(app, FeedHooks(on_tick=schedule_trigger_check, sync_candles=sync_candles))
