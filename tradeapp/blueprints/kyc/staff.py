"""Compliance review pages."""

from flask import Blueprint

bp = Blueprint("staff_kyc", __name__, url_prefix="/staff/kyc")
