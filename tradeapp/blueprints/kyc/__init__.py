"""KYC domain: customer submission and private files, compliance review, provider webhooks."""

from flask import Flask

from tradeapp import domains
from tradeapp.blueprints.api import register_api
from tradeapp.extensions import csrf
from tradeapp.models import KYCDocument
from tradeapp.services import kyc_review

from . import api, staff, staff_api, views, webhooks


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(staff.bp)
    # Webhooks authenticate by the provider's signature, not cookies: no CSRF.
    csrf.exempt(webhooks.bp)
    app.register_blueprint(webhooks.bp)
    register_api(api.blp, staff_api.blp)
    domains.add_queue(
        app,
        "Compliance",
        "KYC queue",
        "staff_kyc.queue",
        kyc_review.REVIEW,
        counter="kyc",
        count=kyc_review.pending_count,
        model=KYCDocument,
        prefix="staff_kyc.",
    )
