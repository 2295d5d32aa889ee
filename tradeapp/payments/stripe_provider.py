"""Stripe PaymentIntents through the official stripe library (16.x)."""

import stripe

from tradeapp.payments.base import Intent, PaymentProvider, ProviderError


class StripeProvider(PaymentProvider):
    name = "stripe"
    uses_stripe_js = True

    def __init__(self, secret_key: str, api_base: str = ""):
        if not secret_key:
            raise ProviderError("STRIPE_SECRET_KEY is not set")
        # A client per provider rather than the module-level stripe.api_key: no global state,
        # and tests can point one client at localstripe.
        kwargs = {"base_addresses": {"api": api_base.rstrip("/")}} if api_base else {}
        self.client = stripe.StripeClient(secret_key, max_network_retries=2, **kwargs)

    @classmethod
    def from_config(cls, config) -> "StripeProvider":
        return cls(config.get("STRIPE_SECRET_KEY", ""), config.get("STRIPE_API_BASE", ""))

    def create_intent(self, *, amount_minor: int, currency: str, deposit_id: int, description: str = "") -> Intent:
        params = {
            "amount": amount_minor,
            "currency": currency.lower(),
            "metadata": {"deposit_id": str(deposit_id)},
            "payment_method_types": ["card"],
        }
        try:
            # The idempotency key makes a retried create (network blip) return the same intent.
            pi = self.client.v1.payment_intents.create(
                params=params, options={"idempotency_key": f"deposit-{deposit_id}"}
            )
        except stripe.StripeError as exc:
            raise ProviderError(f"Stripe refused the payment intent: {exc.user_message or exc}") from exc
        return _intent(pi)

    def retrieve(self, intent_id: str) -> Intent:
        try:
            return _intent(self.client.v1.payment_intents.retrieve(intent_id))
        except stripe.StripeError as exc:
            raise ProviderError(f"Stripe lookup failed: {exc}") from exc


def _intent(pi) -> Intent:
    pi = pi.to_dict()
    return Intent(
        id=pi["id"],
        client_secret=pi.get("client_secret") or "",
        status=pi["status"],
        amount=int(pi["amount"]),
        currency=str(pi["currency"]).upper(),
        amount_received=int(pi.get("amount_received") or 0),
        metadata=dict(pi.get("metadata") or {}),
    )
