"""Signals: the marketplace and My signals pages, the staff console (providers, plans, publish,
outcomes, revenue) and the signals API."""

from flask import Flask

from tradeapp.blueprints.api import register_api

from . import api, views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    register_api(api.blp)
