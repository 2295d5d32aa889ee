"""KYC provider webhooks, authenticated by the provider's HMAC signature (no session, no CSRF)."""

import logging

from flask import Blueprint, jsonify, request

from tradeapp.blueprints.api import domain_error_response, error_response
from tradeapp.kyc_providers import PROVIDERS, ProviderUnavailable, WebhookRejected
from tradeapp.services import kyc_checks

log = logging.getLogger(__name__)

bp = Blueprint("kyc_webhooks", __name__, url_prefix="/webhooks/kyc")


@bp.post("/<provider>")
def provider_webhook(provider: str):
    """Hand the raw body to the provider's adapter, which verifies the signature and records the verdict.

    :raise 404: no such provider, or one without webhooks
    :raise 400: missing or forged signature, unreadable payload (nothing changed)
    :raise 503: the provider's API failed while we read the result (it retries the webhook)
    """
    adapter_class = PROVIDERS.get(provider)
    if adapter_class is None or not adapter_class.has_webhook:
        return error_response(404, "Unknown KYC provider.")
    try:
        outcome = kyc_checks.handle_webhook(adapter_class(), request.get_data(), request.headers)
    except (WebhookRejected, ProviderUnavailable) as exc:
        log.warning("kyc webhook %s refused: %s", provider, exc.code)
        return domain_error_response(exc)
    log.info("kyc webhook %s: %s", provider, outcome)
    return jsonify(received=True, outcome=outcome)
