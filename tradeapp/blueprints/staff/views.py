"""Staff console (HELPER FILLS IN)."""

from flask import Blueprint, Flask

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.get("/")
def dashboard():
    return "staff"


@bp.route("/2fa", methods=["GET", "POST"])
def two_factor():
    return "2fa"


def register_nav(app: Flask) -> None:
    @app.context_processor
    def nav():
        return {"staff_nav": lambda: []}
