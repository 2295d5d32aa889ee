"""Customer KYC API: submit and status."""

from tradeapp.blueprints.api import ApiBlueprint

blp = ApiBlueprint("kyc_api", __name__, url_prefix="/api/v1/kyc", description="Identity verification")
