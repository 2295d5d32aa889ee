"""Housekeeping that keeps tables small: stale login throttles (tokens live in services.tokens)."""

from datetime import timedelta

from sqlalchemy import delete, or_

from tradeapp.extensions import db
from tradeapp.models import LoginThrottle
from tradeapp.models.types import utcnow
from tradeapp.services.uow import unit_of_work


def purge_login_throttles(older_than: timedelta = timedelta(days=1)) -> int:
    """Delete failed-login counters that are not locking anything and were last touched before the cutoff."""
    now = utcnow()
    with unit_of_work():
        result = db.session.execute(
            delete(LoginThrottle).where(
                LoginThrottle.updated_at < now - older_than,
                or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now),
            )
        )
    return result.rowcount or 0
