"""What a deposit's payment details show its owner (never staff-only flags or internals)."""

from flask import current_app

from tradeapp.models.funds import Deposit


def public_details(deposit: Deposit) -> dict:
    """Ours (client secret, bank reference, address…) over what the customer sent in ``payment_details``."""
    details = deposit.payment_details or {}
    return {**(details.get("client") or {}), **_ours(deposit, details)}


def _ours(deposit: Deposit, details: dict) -> dict:
    if deposit.payment_method == "card":
        out = {"provider": deposit.provider, "payment_intent": deposit.provider_ref}
        if deposit.status in ("pending", "failed"):
            out["client_secret"] = details.get("client_secret")
            if deposit.provider == "stripe":
                out["publishable_key"] = current_app.config.get("STRIPE_PUBLISHABLE_KEY") or None
        if details.get("failure"):
            out["failure"] = details["failure"]
        return out
    if deposit.payment_method == "bank_transfer":
        return {"reference": details.get("reference") or deposit.provider_ref, "bank": details.get("bank", {})}
    return {
        "network": details.get("network"),
        "address": details.get("address"),
        "address_note": "Demo address format: chain watching is not automatic; finance confirms deposits by hand.",
        "tx_hash": deposit.provider_ref,
    }
