"""Customer auth pages (HELPER FILLS IN)."""

from flask import Blueprint

bp = Blueprint("users", __name__)


@bp.route("/auth/login", methods=["GET", "POST"])
def login():
    return "login"


@bp.route("/auth/register", methods=["GET", "POST"])
def register():
    return "register"


@bp.post("/auth/logout")
def logout():
    return "logout"


@bp.get("/account/")
def profile():
    return "profile"


@bp.post("/auth/verify/resend")
def resend_verification():
    return "resend"


@bp.get("/auth/verify/<token>")
def verify_email(token):
    return "verify"


@bp.route("/auth/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    return "reset"
