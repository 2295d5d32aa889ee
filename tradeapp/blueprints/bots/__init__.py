"""Bots: strategy bots (paper and live), their backtests, pages, staff oversight and API."""

from flask import Flask

from tradeapp import domains
from tradeapp.blueprints.api import register_api

from . import api
from .cli import bots_cli


def init_app(app: Flask) -> None:
    register_api(api.blp)
    domains.add_cli(app, bots_cli)
