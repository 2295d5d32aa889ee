"""Customer KYC pages and the authorised file route."""

from flask import Blueprint

bp = Blueprint("kyc", __name__, url_prefix="/kyc")
