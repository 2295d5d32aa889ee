"""Order jobs: the trigger check the feed schedules on every tick of a pair."""

import logging

from tradeapp.jobs import job
from tradeapp.services.trading import orders

log = logging.getLogger(__name__)


@job
def check_triggers(symbol: str) -> int:
    """Settle the pair's resting orders and protected positions the latest quote crossed.

    The feed enqueues it with a per-pair job id, so ticks never pile up checks; each order is
    settled in its own transaction under its row lock, so a repeated run changes nothing.
    """
    executed = orders.check_triggers(symbol)
    if executed:
        log.info("trigger check %s: %d orders executed", symbol, executed)
    return executed
