"""Bots: strategy bots (paper and live), their backtests, pages, staff oversight and API."""

from flask import Flask

from tradeapp import domains
from tradeapp.blueprints.api import register_api

from . import api, staff, views
from .cli import bots_cli


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(staff.bp)
    register_api(api.blp)
    domains.add_nav(app, "Trading", "Bots", "staff_bots.bots_listing", staff.VIEW, prefix="staff_bots.")
    domains.add_cli(app, bots_cli)
