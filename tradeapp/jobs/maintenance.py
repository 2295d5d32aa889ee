"""Periodic housekeeping jobs (scheduled in ``tradeapp.jobs.schedule``); each is safe to run twice."""

import logging

from flask import current_app

from tradeapp.jobs import job
from tradeapp.services import idempotency, maintenance, tokens

log = logging.getLogger(__name__)


@job
def purge_expired_tokens() -> int:
    """Delete refresh tokens that expired, or were revoked longer ago than TOKEN_RETENTION_DAYS."""
    count = tokens.purge_expired(current_app.config["TOKEN_RETENTION_DAYS"])
    log.info("purged %d refresh tokens", count)
    return count


@job
def purge_login_throttles() -> int:
    """Delete failed-login counters that are unlocked and older than a day."""
    count = maintenance.purge_login_throttles()
    log.info("purged %d login throttles", count)
    return count


@job
def purge_idempotency_records() -> int:
    """Delete idempotency records past the 24 hours their keys are honoured for."""
    count = idempotency.purge_idempotency_records()
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
