"""Copy trading: the leaderboard, trader pages, following and My copies; the staff's lead-trader console; the API."""

from flask import Flask

from tradeapp.services.copy_trading import engine


def init_app(app: Flask) -> None:
    engine.install()
