"""KYC provider webhooks, authenticated by the provider's HMAC signature."""

from flask import Blueprint

bp = Blueprint("kyc_webhooks", __name__, url_prefix="/webhooks/kyc")
