"""Nightly: store the previous day's financial report, so past days never change when looked at again."""

import logging

from tradeapp.jobs import job
from tradeapp.services.backoffice import reports

log = logging.getLogger(__name__)


@job
def store_daily_report() -> dict:
    """Store yesterday's report (UTC); a day already stored is left as it is (safe to run twice)."""
    report = reports.store_previous_day()
    log.info("daily report of %s stored: %d currencies", report.day, len(report.lines))
    return {"day": report.day.isoformat(), "currencies": [line.currency for line in report.lines]}
