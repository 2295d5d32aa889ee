"""Copy-trading jobs: copying one master order, the sweep for lost copy jobs, portfolio stops, profit share, stats."""

import logging

from tradeapp.jobs import job
from tradeapp.services.copy_trading import engine, profit_share, stats

log = logging.getLogger(__name__)


@job
def copy_signal(signal_id: int) -> dict:
    """Copy one lead trader's finished order to every follower (batches; each follower once, by a unique key)."""
    return engine.dispatch(signal_id)


@job
def copy_signal_part(signal_id: int, part: int, parts: int) -> dict:
    """One part of a copy fanned out over several workers (the subscriptions whose id is ``part`` mod ``parts``)."""
    return engine.copy_signal(signal_id, part=part, parts=parts)


@job
def sweep_signals() -> int:
    """Enqueue the copy job again for signals a lost job left unprocessed."""
    found = engine.sweep()
    if found:
        log.warning("copy sweep: %d unprocessed signals re-enqueued", found)
    return found


@job
def portfolio_stop(subscription_id: int) -> bool:
    """Check one subscription's portfolio stop after its copies changed."""
    return engine.portfolio_stop(subscription_id)


@job
def check_portfolio_stops() -> int:
    """Check every subscription with a portfolio stop (prices move between copies)."""
    return engine.check_stops()


@job
def settle_profit_shares() -> int:
    """The daily profit-share settlement (one per subscription and day)."""
    return profit_share.settle_all()


@job
def refresh_trader_stats() -> int:
    """Recompute every lead trader's stats from fills and prices."""
    return stats.refresh_all()
