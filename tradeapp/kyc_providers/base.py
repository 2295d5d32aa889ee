"""The interface every KYC provider adapter implements, and its errors."""

from collections.abc import Mapping

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

    def start_check(self, document_id: int) -> None:
        """Send the submission to the provider (runs as a job, after the submission committed)."""

    def handle_webhook(self, body: bytes, headers: Mapping[str, str]) -> str:
        """Verify and apply one webhook; returns a short outcome for the response and the log."""
        raise NotImplementedError
