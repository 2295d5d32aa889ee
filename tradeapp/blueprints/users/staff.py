"""Staff pages over users (HELPER FILLS IN)."""

from flask import Blueprint

bp = Blueprint("staff_users", __name__, url_prefix="/staff/users")
