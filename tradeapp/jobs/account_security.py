"""Account security jobs: unconfirmed withdrawals expire and release their holds."""

from tradeapp.jobs import job
from tradeapp.services.account_security import confirmations


@job
def expire_unconfirmed_withdrawals() -> int:
    """Cancel withdrawals whose e-mailed confirmation expired; idempotent (a rerun finds nothing)."""
    return confirmations.expire_due()
