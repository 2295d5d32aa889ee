"""Card payment providers: one small interface, a registry, and the configured provider.

``stripe`` talks to Stripe's PaymentIntents API (or localstripe in tests); ``sandbox`` runs
in-process for embedded mode. Both report a payment through the same completion function in
:mod:`tradeapp.services.deposits`, so the ledger sees one code path.
"""

from flask import current_app

from tradeapp.payments.base import Intent, PaymentProvider, ProviderError
from tradeapp.payments.sandbox import SandboxProvider
from tradeapp.payments.stripe_provider import StripeProvider

PROVIDERS: dict[str, type[PaymentProvider]] = {cls.name: cls for cls in (StripeProvider, SandboxProvider)}


def get_provider(name: str | None = None) -> PaymentProvider:
    """The provider ``name`` (default: the PAYMENTS_PROVIDER setting), built from the app config."""
    name = name or current_app.config.get("PAYMENTS_PROVIDER", "sandbox")
    try:
        cls = PROVIDERS[name]
    except KeyError:
        raise ProviderError(f"unknown payments provider {name!r}") from None
    return cls.from_config(current_app.config)


__all__ = [
    "PROVIDERS",
    "Intent",
    "PaymentProvider",
    "ProviderError",
    "get_provider",
    "SandboxProvider",
    "StripeProvider",
]
