"""Landing page, customer dashboard, health check and the dev-only mail outbox."""

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select, text

from tradeapp.extensions import db
from tradeapp.mail import outbox_messages
from tradeapp.models import TradingPair
from tradeapp.services.trading import positions
from tradeapp.web import login_required

bp = Blueprint("main", __name__)


@bp.get("/")
def home():
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    pairs = db.session.scalars(select(TradingPair).where(TradingPair.is_active).order_by(TradingPair.symbol)).all()
    return render_template("main/home.html", pairs=pairs)


@bp.get("/dashboard")
@login_required
def dashboard():
    """The account at a glance: status, the portfolio of positions with live P&L, and the markets."""
    pairs = db.session.scalars(select(TradingPair).where(TradingPair.is_active).order_by(TradingPair.symbol)).all()
    return render_template("main/dashboard.html", pairs=pairs, portfolio=positions.portfolio(current_user))


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico wherever a document names no icon (an HTMX fragment opened directly)."""
    return redirect(url_for("static", filename="img/favicon.svg"), code=301)


@bp.get("/healthz")
def health():
    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok", mode="embedded" if current_app.config["EMBEDDED"] else "production")


@bp.get("/dev/outbox")
def outbox():
    """Mail the embedded app 'sent', so a newcomer can click verification links (embedded mode only)."""
    if not current_app.config["EMBEDDED"] or current_app.config["MAIL_BACKEND"] != "outbox":
        abort(404)
    return render_template("main/outbox.html", messages=outbox_messages())
