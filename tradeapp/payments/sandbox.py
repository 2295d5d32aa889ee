"""An in-process card provider for embedded mode: test card numbers, no network, no real money.

Intents live in the Deposit row itself (provider "sandbox", provider_ref the intent id), so the
provider keeps no state; paying with a test card reports through the same completion function
as Stripe's webhook.
"""

import secrets

from tradeapp.payments.base import Intent, PaymentProvider

#: the test cards the sandbox form lists (Stripe's own test numbers)
SUCCEEDS = "4242424242424242"
DECLINES = "4000000000000002"
TEST_CARDS = {SUCCEEDS: "succeeds", DECLINES: "is declined"}


class SandboxProvider(PaymentProvider):
    name = "sandbox"

    def create_intent(self, *, amount_minor: int, currency: str, deposit_id: int, description: str = "") -> Intent:
        intent_id = f"sbx_pi_{secrets.token_hex(12)}"
        return Intent(
            id=intent_id,
            client_secret=f"{intent_id}_secret_{secrets.token_hex(8)}",
            status="requires_payment_method",
            amount=amount_minor,
            currency=currency.upper(),
            metadata={"deposit_id": str(deposit_id)},
        )

    def retrieve(self, intent_id: str) -> Intent:
        raise NotImplementedError("sandbox intents are read from their Deposit row")

    @staticmethod
    def charge(card_number: str) -> tuple[bool, str]:
        """(succeeded, message) for a card number; unknown numbers are declined like Stripe's test mode."""
        number = "".join(ch for ch in card_number if ch.isdigit())
        if number == SUCCEEDS:
            return True, "Payment succeeded."
        if number == DECLINES:
            return False, "Your card was declined."
        return False, "Use one of the test card numbers listed: this is a sandbox."
