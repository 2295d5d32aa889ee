"""Periodic housekeeping jobs (scheduled in ``tradeapp.jobs.schedule``); each is safe to run twice."""

import logging

from flask import current_app

from tradeapp.jobs import job

log = logging.getLogger(__name__)


@job
def purge_expired_tokens() -> int:
    """Delete refresh tokens that expired, or were revoked longer ago than TOKEN_RETENTION_DAYS."""
    from tradeapp.services.tokens import purge_expired

    count = purge_expired(current_app.config["TOKEN_RETENTION_DAYS"])
    log.info("purged %d refresh tokens", count)
    return count


@job
def purge_login_throttles() -> int:
    """Delete failed-login counters that are unlocked and older than a day."""
    from tradeapp.services.maintenance import purge_login_throttles as purge

    count = purge()
    log.info("purged %d login throttles", count)
    return count


@job
def purge_idempotency_records() -> int:
    """Delete idempotency records past the 24 hours their keys are honoured for."""
    from tradeapp.services.idempotency import purge_idempotency_records as purge

    count = purge()
    log.info("purged %d idempotency records", count)
    return count


@job
def purge_all() -> dict[str, int]:
    """Every purge, now (``flask jobs purge``)."""
    return {
        "refresh_tokens": purge_expired_tokens(),
        "login_throttles": purge_login_throttles(),
        "idempotency_records": purge_idempotency_records(),
    }
