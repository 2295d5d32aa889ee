"""Referral jobs: sum yesterday's commission accruals (daily), pay cleared rewards (every 6 hours)."""

import logging

from tradeapp.jobs import job
from tradeapp.services import referrals

log = logging.getLogger(__name__)

#: cron lines (UTC) of the two jobs; tests read them back through croniter to prove what they mean
SUM_COMMISSIONS_CRON = "5 0 * * *"  # once a day, 00:05, when yesterday is over
PAY_REWARDS_CRON = "15 */6 * * *"  # four times a day: 00:15, 06:15, 12:15, 18:15


@job
def sum_referral_commissions() -> int:
    """One ``trading_commission`` reward per referee and currency for the accruals of past days."""
    created = referrals.sum_commissions()
    log.info("referral commissions: %d rewards created", created)
    return created


@job
def pay_referral_rewards() -> int:
    """Pay every cleared pending reward (each in its own transaction; safe to run twice or in parallel)."""
    paid = referrals.pay_due_rewards()
    log.info("referral rewards: %d paid", paid)
    return paid
