"""Loan jobs: the LTV check the feed schedules on every tick, and the daily interest, overdue and
overdue-liquidation runs (each idempotent: a re-run finds the day accrued, the loan flagged or closed)."""

import logging
from datetime import timedelta

from tradeapp.jobs import job
from tradeapp.models.types import utcnow
from tradeapp.services import loans

log = logging.getLogger(__name__)


@job
def check_ltv(symbol: str) -> dict:
    """Settle the loans backed by ``symbol``'s base currency whose LTV the latest price crossed."""
    counts = loans.check_ltv(symbol)
    if counts["touched"]:
        log.info("LTV check %s: %s", symbol, counts)
    return counts


@job
def notify_margin_calls(loan_ids: list[int], price: str, collateral: str, crossing: str) -> int:
    """Tell the customers whose loans a tick put into margin call (a retry notifies nobody twice)."""
    return loans.notify_margin_calls(loan_ids, price, collateral, crossing)


@job
def accrue_interest() -> int:
    """Accrue every active loan's interest through yesterday (UTC); missed days are caught up."""
    return loans.accrue_all(utcnow().date() - timedelta(days=1))


@job
def flag_overdue() -> int:
    """Flag loans past their due date (the customer is told once)."""
    return loans.flag_overdue(utcnow().date())


@job
def liquidate_overdue() -> int:
    """Liquidate loans overdue beyond their product's grace days."""
    return loans.liquidate_overdue(utcnow().date())
