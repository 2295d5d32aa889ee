"""The interface every KYC provider adapter implements, and its errors."""

from collections.abc import Callable, Mapping

from tradeapp.errors import DomainError


class WebhookRejected(DomainError):
    """A webhook we cannot trust or read (bad signature, bad payload); nothing was changed."""

    code = "invalid_webhook"


class ProviderUnavailable(DomainError):
    """The provider's API failed while handling a webhook; the provider will retry it."""

    status = 503
    code = "provider_unavailable"


class KycProvider:
    """What a provider adapter does; ``manual`` does nothing beyond the queue."""

    name = "manual"
    #: whether ``/webhooks/kyc/<name>`` accepts callbacks from this provider
    has_webhook = False

    def start_check(self, doc, read_file: Callable) -> tuple[str, str] | None:
        """Send the submission (``read_file(kyc_file)`` gives a file's bytes); (applicant id, check id) or None."""
        return None

    def completed_check(self, body: bytes, headers: Mapping[str, str]) -> tuple[str, dict] | None:
        """Verify a webhook: (check id, event object) of a completed check, or None for other events."""
        raise NotImplementedError

    def fetch_check(self, check_id: str) -> dict:
        """The provider's current view of the check (``result``: ``clear`` or ``consider``)."""
        raise NotImplementedError
