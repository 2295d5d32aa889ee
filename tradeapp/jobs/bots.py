"""Bot jobs on the ``bots`` queue: the per-bar evaluation, the bar-close scheduler, protection checks, model training."""

import logging
import time

from tradeapp.jobs import enqueue, job
from tradeapp.market.base import TIMEFRAMES
from tradeapp.services.bots import engine

log = logging.getLogger(__name__)


@job
def schedule_bar_closes(now: float | None = None) -> list[str]:
    """Enqueue the evaluation of every timeframe whose bar closed in the last minute (run every minute by cron).

    The job id is the (timeframe, bar) pair, so a duplicate schedule never queues a bar twice.
    """
    now = time.time() if now is None else now
    queued = []
    for timeframe, size in TIMEFRAMES.items():
        if now % size < 60:
            bar = engine.last_closed_bar(timeframe, now)
            try:
                enqueue(run_bar, timeframe, bar, queue="bots", job_id=f"bots-{timeframe}-{bar}", retries=3)
            except engine.BarNotReady as exc:  # inline (embedded mode): the next minute's run catches up
                log.info("bots %s: %s", timeframe, exc)
            queued.append(f"{timeframe}@{bar}")
    return queued


@job
def run_bar(timeframe: str, bar_time: int) -> dict:
    """Evaluate the active bots of ``timeframe`` on the bar opening at ``bar_time`` (ms).

    Safe to run twice: each action claims its (bot, pair, bar) row first. Raises BarNotReady while
    the bar's candle is not stored, so RQ's retry runs it again a little later.
    """
    counts = engine.run_bar(timeframe, bar_time)
    log.info("bots %s bar %s: %s", timeframe, bar_time, counts)
    return counts


@job
def check_protection(symbol: str) -> int:
    """Sell bot positions of ``symbol`` whose stop-loss or take-profit the bid crossed (scheduled per tick)."""
    return engine.protect(symbol)


@job
def train_model(bot_id: int) -> int | None:
    """Train the next version of an ``ml_model`` bot's classifier."""
    row = engine.train_model(bot_id)
    return row.version if row is not None else None


def embedded_catch_up(app) -> None:
    """Embedded mode (no cron): evaluate each timeframe's latest closed bar once, after the feed stored candles."""
    done = app.extensions.setdefault("tradeapp.bots.last_bar", {})
    for timeframe in TIMEFRAMES:
        bar = engine.last_closed_bar(timeframe)
        if done.get(timeframe) == bar:
            continue
        try:
            counts = engine.run_bar(timeframe, bar)
        except engine.BarNotReady:
            continue
        except Exception:  # noqa: BLE001 - the feed thread must go on
            log.exception("bots %s bar %s failed", timeframe, bar)
            counts = {}
        if not counts.get("missing"):  # else again once the other pairs' candles are stored
            done[timeframe] = bar
