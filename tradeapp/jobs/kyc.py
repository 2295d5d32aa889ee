"""KYC jobs: hand a submission to its provider; expire approvals older than KYC_VALIDITY_DAYS (daily)."""

import logging

from tradeapp.jobs import job
from tradeapp.services import kyc_checks
from tradeapp.services.kyc import expire_approvals

log = logging.getLogger(__name__)


@job
def expire_kyc_approvals() -> int:
    """Expire approvals past their ``expires_at`` and ask their users to verify again."""
    count = expire_approvals()
    log.info("expired %d KYC approvals", count)
    return count


@job
def start_provider_check(document_id: int, provider_name: str) -> None:
    """Hand a submission to its provider (enqueued after the submission committed; idempotent per document)."""
    kyc_checks.start_provider_check(document_id, provider_name)
