"""The interface every card payment provider implements."""

from dataclasses import dataclass, field
from decimal import Decimal

from tradeapp.currencies import get_currency


class ProviderError(Exception):
    """The provider could not be reached or refused the call (not the customer's card)."""


@dataclass(frozen=True)
class Intent:
    """A payment intent as the provider reports it."""

    id: str
    client_secret: str
    status: str
    #: minor units (cents); ``amount_received`` is what was actually captured
    amount: int
    currency: str
    amount_received: int = 0
    metadata: dict = field(default_factory=dict)


def to_minor(amount: Decimal, currency: str) -> int:
    """``Decimal("12.34")`` USD → 1234 (exact: amounts are already quantized to the currency)."""
    cur = get_currency(currency)
    minor = amount.scaleb(cur.decimals)
    if minor != minor.to_integral_value():
        raise ValueError(f"{amount} has more decimals than {cur.code} allows")
    return int(minor)


def from_minor(minor: int, currency: str) -> Decimal:
    """1234 USD → ``Decimal("12.34")``."""
    cur = get_currency(currency)
    return (Decimal(int(minor)).scaleb(-cur.decimals)).quantize(cur.quantum)


class PaymentProvider:
    """Create and look up card payments. Subclasses set ``name`` and implement both methods."""

    name = ""
    #: whether the browser pays through Stripe.js (else through our sandbox card form)
    uses_stripe_js = False

    @classmethod
    def from_config(cls, config) -> "PaymentProvider":
        return cls()

    def create_intent(self, *, amount_minor: int, currency: str, deposit_id: int, description: str = "") -> Intent:
        raise NotImplementedError

    def retrieve(self, intent_id: str) -> Intent:
        raise NotImplementedError
