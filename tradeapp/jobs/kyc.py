"""KYC jobs: hand a submission to its provider; expire approvals older than KYC_VALIDITY_DAYS (daily)."""

import logging

from tradeapp.jobs import job
from tradeapp.kyc_providers import get_provider

log = logging.getLogger(__name__)


@job
def expire_kyc_approvals() -> int:
    """Expire approvals past their ``expires_at`` and ask their users to verify again."""
    from tradeapp.services.kyc import expire_approvals

    count = expire_approvals()
    log.info("expired %d KYC approvals", count)
    return count


@job
def start_provider_check(document_id: int, provider_name: str) -> None:
    """Hand a submission to its provider (enqueued after the submission committed; idempotent per document)."""
    get_provider(provider_name).start_check(document_id)
