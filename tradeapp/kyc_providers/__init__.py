"""Identity-verification providers: one interface, chosen by ``KYC_PROVIDER``.

``manual`` (the default) leaves every submission to the compliance queue; other providers
create an applicant and a check when a submission arrives (the submission service enqueues
``tradeapp.jobs.kyc.start_provider_check``) and report back by webhook (``/webhooks/kyc/<provider>``).
"""

from flask import current_app

from tradeapp.kyc_providers.base import KycProvider, ProviderUnavailable, WebhookRejected
from tradeapp.kyc_providers.onfido import OnfidoProvider

__all__ = [
    "PROVIDERS",
    "KycProvider",
    "OnfidoProvider",
    "ProviderUnavailable",
    "WebhookRejected",
    "get_provider",
]

PROVIDERS: dict[str, type[KycProvider]] = {"manual": KycProvider, "onfido": OnfidoProvider}


def get_provider(name: str | None = None) -> KycProvider:
    name = name or current_app.config.get("KYC_PROVIDER", "manual")
    try:
        return PROVIDERS[name]()
    except KeyError:
        raise RuntimeError(f"unknown KYC_PROVIDER {name!r}") from None
