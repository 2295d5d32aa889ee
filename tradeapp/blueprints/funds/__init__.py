"""Funds: wallets, transfers and history (deposits and withdrawals live beside them)."""

from flask import Flask

from tradeapp.blueprints.api import register_api

from . import api, views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    register_api(api.blp)
