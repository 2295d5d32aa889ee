"""Signal jobs: the fan-out of a published signal, outcomes from prices, renewals and expiry."""

import logging

from tradeapp.jobs import job
from tradeapp.services.signals import delivery, lifecycle, subscriptions

log = logging.getLogger(__name__)


@job
def fan_out_signal(signal_id: int) -> int:
    """Deliver a published signal to its subscribers (enqueued after the publish commits; safe to re-run)."""
    return delivery.fan_out(signal_id)


@job
def signal_lifecycle() -> dict:
    """Decide hit_tp / hit_sl / expired from platform prices; attach protection to filled signal orders."""
    counts = lifecycle.run()
    if any(counts.values()):
        log.info("signal lifecycle: %s", counts)
    return counts


@job
def renew_signal_subscriptions() -> dict:
    """Charge subscriptions that end within the hour (each once per period), then end the lapsed ones."""
    counts = subscriptions.renew_due()
    counts["expired"] = subscriptions.expire_due()
    log.info("signal subscriptions: %s", counts)
    return counts


@job
def expire_signal_subscriptions() -> int:
    """End every subscription whose paid time is over, so it never blocks a new one."""
    return subscriptions.expire_due()
