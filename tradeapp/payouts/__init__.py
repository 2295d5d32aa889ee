"""Payout providers: one interface, a registry by name, and the choice per withdrawal.

A provider sends money out for a withdrawal. Every call carries an idempotency key
(``payout-<withdrawal id>``): sending twice with one key sends once, and ``lookup`` finds a
payout already sent, so a job re-run after a crash never pays twice.

- ``sandbox``: embedded mode; succeeds at once, deterministically. Test hook: any destination
  value containing ``FAIL`` makes it fail.
- ``manual_bank``: finance pays bank withdrawals by hand. Sending only marks the payout as
  exported; staff download the CSV at ``/staff/withdrawals/export.csv`` and later mark each
  one paid or failed.

``PAYOUT_PROVIDER`` picks the provider (default ``sandbox``); ``PAYOUT_PROVIDER_BANK``
overrides it for bank withdrawals (e.g. ``manual_bank``).
"""

from dataclasses import dataclass
from typing import ClassVar

from flask import current_app

SENT = "sent"  # paid out: settle the withdrawal
PENDING = "pending"  # accepted, the outcome comes later (manual export): keep processing
FAILED = "failed"  # refused: release the hold


@dataclass(frozen=True)
class PayoutResult:
    status: str
    ref: str
    message: str = ""


class PayoutProvider:
    """Sends one withdrawal's money out."""

    name: ClassVar[str] = ""
    #: destination types this provider can pay
    destinations: ClassVar[tuple[str, ...]] = ("bank_account", "crypto_wallet")

    def send(self, withdrawal, idempotency_key: str) -> PayoutResult:
        """Pay ``withdrawal``; the same key never pays twice."""
        raise NotImplementedError

    def lookup(self, idempotency_key: str) -> PayoutResult | None:
        """The payout already made with this key, or None if none was."""
        raise NotImplementedError


class SandboxPayout(PayoutProvider):
    """Deterministic fake rail for embedded mode and tests."""

    name = "sandbox"
    #: payouts "at the provider", by idempotency key (survives our own rollbacks, as a real one would)
    sent: ClassVar[dict[str, PayoutResult]] = {}
    #: how many times money actually left, by key (tests assert it is never more than one)
    calls: ClassVar[dict[str, int]] = {}

    def send(self, withdrawal, idempotency_key: str) -> PayoutResult:
        existing = self.sent.get(idempotency_key)
        if existing is not None:
            return existing
        self.calls[idempotency_key] = self.calls.get(idempotency_key, 0) + 1
        values = " ".join(str(v) for v in (withdrawal.destination_details or {}).values())
        if "FAIL" in values:
            result = PayoutResult(FAILED, f"sandbox-{idempotency_key}", "The sandbox bank refused the payout.")
        else:
            result = PayoutResult(SENT, f"sandbox-{idempotency_key}")
        self.sent[idempotency_key] = result
        return result

    def lookup(self, idempotency_key: str) -> PayoutResult | None:
        return self.sent.get(idempotency_key)

    @classmethod
    def reset(cls) -> None:
        cls.sent.clear()
        cls.calls.clear()


class ManualBankPayout(PayoutProvider):
    """Finance pays by bank transfer from an exported CSV, then marks each payout paid or failed."""

    name = "manual_bank"
    destinations = ("bank_account",)

    def send(self, withdrawal, idempotency_key: str) -> PayoutResult:
        # Nothing leaves here: the withdrawal waits in the export until staff record the outcome.
        return PayoutResult(PENDING, f"manual-{idempotency_key}", "Exported for manual payment.")

    def lookup(self, idempotency_key: str) -> PayoutResult | None:
        return None  # sending is harmless to repeat: it only marks the export


PROVIDERS: dict[str, type[PayoutProvider]] = {p.name: p for p in (SandboxPayout, ManualBankPayout)}


def get_provider(name: str) -> PayoutProvider:
    try:
        return PROVIDERS[name]()
    except KeyError:
        raise ValueError(f"unknown payout provider {name!r}") from None


def provider_name_for(destination_type: str) -> str:
    """The configured provider for a destination type (a bank-only provider never gets crypto)."""
    name = current_app.config.get("PAYOUT_PROVIDER", "sandbox")
    if destination_type == "bank_account":
        name = current_app.config.get("PAYOUT_PROVIDER_BANK") or name
    provider = PROVIDERS.get(name)
    if provider is None:
        raise ValueError(f"unknown payout provider {name!r}")
    if destination_type not in provider.destinations:
        # Never guess a rail for real money: a misconfiguration must stop the payout.
        raise ValueError(f"payout provider {name!r} cannot pay {destination_type} withdrawals")
    return name
