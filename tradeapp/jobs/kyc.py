"""KYC expiry: approvals older than KYC_VALIDITY_DAYS stop counting (daily; safe to run twice)."""

import logging

from tradeapp.jobs import job

log = logging.getLogger(__name__)


@job
def expire_kyc_approvals() -> int:
    """Expire approvals past their ``expires_at`` and ask their users to verify again."""
    from tradeapp.services.kyc import expire_approvals

    count = expire_approvals()
    log.info("expired %d KYC approvals", count)
    return count
