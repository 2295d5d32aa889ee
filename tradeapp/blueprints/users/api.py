"""Auth API (HELPER FILLS IN)."""

from flask_smorest import Blueprint

blp = Blueprint("auth_api", __name__, url_prefix="/api/v1/auth", description="Accounts and tokens")
