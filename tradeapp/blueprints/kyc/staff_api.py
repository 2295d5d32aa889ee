"""Compliance review API: pending queue, approve, reject."""

from tradeapp.blueprints.api import ApiBlueprint

blp = ApiBlueprint(
    "kyc_staff_api", __name__, url_prefix="/api/v1/kyc", description="Identity verification review (staff)"
)
