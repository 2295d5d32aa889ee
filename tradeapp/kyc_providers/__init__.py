"""Identity-verification providers: one interface, chosen by ``KYC_PROVIDER``.

``manual`` (the default) leaves every submission to the compliance queue; other providers
create an applicant and a check when a submission arrives and report back by webhook
(``/webhooks/kyc/<provider>``).
"""

from flask import current_app

from tradeapp.jobs import job
from tradeapp.kyc_providers.base import KycProvider, ProviderUnavailable, WebhookRejected
from tradeapp.kyc_providers.onfido import OnfidoProvider

__all__ = [
    "PROVIDERS",
    "KycProvider",
    "OnfidoProvider",
    "ProviderUnavailable",
    "WebhookRejected",
    "get_provider",
    "on_submitted",
]

PROVIDERS: dict[str, type[KycProvider]] = {"manual": KycProvider, "onfido": OnfidoProvider}


def get_provider(name: str | None = None) -> KycProvider:
    name = name or current_app.config.get("KYC_PROVIDER", "manual")
    try:
        return PROVIDERS[name]()
    except KeyError:
        raise RuntimeError(f"unknown KYC_PROVIDER {name!r}") from None


def on_submitted(document_id: int) -> None:
    """Called by the submission service after commit; enqueues the provider check if any."""
    provider = get_provider()
    if provider.name == "manual":
        return
    from tradeapp.jobs import enqueue

    enqueue(start_check_job, document_id, provider.name, queue="default", job_id=f"kyc-check-{document_id}")


@job
def start_check_job(document_id: int, provider_name: str) -> None:
    """RQ job: hand a submission to its provider (idempotent per document)."""
    get_provider(provider_name).start_check(document_id)
