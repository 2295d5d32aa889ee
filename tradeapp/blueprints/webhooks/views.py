"""Incoming webhooks from payment providers (no session, no CSRF: the signature is the auth)."""

import logging

import stripe
from flask import Blueprint, current_app, jsonify, request

from tradeapp.blueprints.api import error_response
from tradeapp.services import deposits

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


def _handle_payment_intent(event_type: str, pi: dict) -> str:
    if event_type == "payment_intent.succeeded":
        received = pi.get("amount_received") or pi.get("amount") or 0
        deposit = deposits.complete_card_deposit(
            "stripe", pi["id"], int(received), str(pi.get("currency", "")), card_fingerprint=_card_fingerprint(pi)
        )
        return "completed" if deposit is not None else "unknown_intent"
    error = pi.get("last_payment_error") or {}
    deposit = deposits.mark_card_failed("stripe", pi["id"], error.get("message") or "The payment failed.")
    return "failed" if deposit is not None else "unknown_intent"


def _card_fingerprint(pi: dict) -> str:
    """The card's fingerprint from an expanded ``latest_charge`` (or the older ``charges`` list), if present."""
    charge = pi.get("latest_charge")
    if not isinstance(charge, dict):
        charges = (pi.get("charges") or {}).get("data") or []
        charge = charges[0] if charges and isinstance(charges[0], dict) else {}
    card = ((charge.get("payment_method_details") or {}).get("card")) or {}
    return str(card.get("fingerprint") or "")


def _handle_dispute(dispute: dict) -> str:
    intent_id = dispute.get("payment_intent")
    if not intent_id:
        return "ignored"
    amount = dispute.get("amount")
    deposit = deposits.dispute_card_deposit(
        "stripe", str(intent_id), str(dispute.get("id") or ""), int(amount) if amount is not None else None
    )
    return "disputed" if deposit is not None else "unknown_intent"


def _handle_dispute_closed(dispute: dict) -> str:
    intent_id = dispute.get("payment_intent")
    if not intent_id or not dispute.get("id"):
        return "ignored"
    status = str(dispute.get("status") or "")
    deposit = deposits.close_card_dispute("stripe", str(intent_id), str(dispute["id"]), status)
    return f"dispute_{status}" if deposit is not None else "unknown_intent"


def _handle_charge_refunded(charge: dict) -> str:
    intent_id = charge.get("payment_intent")
    if not intent_id:
        return "ignored"
    deposit = deposits.refund_card_deposit(
        "stripe", str(intent_id), int(charge.get("amount_refunded") or 0), bool(charge.get("refunded"))
    )
    return "refunded" if deposit is not None else "unknown_intent"


@bp.post("/stripe")
def stripe_webhook():
    """Verify Stripe's signature, then complete, fail or refund the matching card deposit.

    Replays are harmless: the deposit's state machine and the unique PaymentIntent id make
    every handler a no-op the second time. Unknown event types are acknowledged and ignored.
    """
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        return error_response(400, "Stripe webhooks are not configured.", "webhook_not_configured")
    payload = request.get_data()
    try:
        event = stripe.Webhook.construct_event(payload, request.headers.get("Stripe-Signature"), secret)
    except stripe.SignatureVerificationError:
        return error_response(400, "Invalid signature.", "invalid_signature")
    except ValueError:
        return error_response(400, "Invalid payload.", "invalid_payload")

    event = event.to_dict()  # stripe 16's objects are not dicts
    event_type = event.get("type", "")
    obj = (event.get("data") or {}).get("object") or {}
    if event_type in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        outcome = _handle_payment_intent(event_type, obj)
    elif event_type == "charge.refunded":
        outcome = _handle_charge_refunded(obj)
    elif event_type == "charge.dispute.created":
        outcome = _handle_dispute(obj)
    elif event_type == "charge.dispute.closed":
        outcome = _handle_dispute_closed(obj)
    else:
        outcome = "ignored"
    log.info("stripe event %s (%s): %s", event.get("id"), event_type, outcome)
    return jsonify(received=True, outcome=outcome)
