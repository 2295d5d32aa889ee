"""Copy trading: the leaderboard, trader pages, following and My copies; the staff's lead-trader console; the API."""

from flask import Flask

from tradeapp.blueprints.api import register_api
from tradeapp.services.copy_trading import engine

from . import api


def init_app(app: Flask) -> None:
    engine.install()
    register_api(api.blp)
