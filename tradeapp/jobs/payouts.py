"""Payout jobs (queue ``payouts``): send an approved withdrawal's money out, exactly once."""

import logging

from tradeapp.jobs import job
from tradeapp.services.withdrawals import process_payout

log = logging.getLogger(__name__)


@job
def send_payout(withdrawal_id: int) -> str:
    """Pay withdrawal ``withdrawal_id`` through its provider; a re-run never pays twice.

    Enqueued with ``job_id=f"payout-{id}"`` and RQ retries; a run on a withdrawal that is
    already completed, failed or rejected does nothing.
    """
    status = process_payout(withdrawal_id)
    log.info("payout for withdrawal %s: %s", withdrawal_id, status)
    return status
