"""Deposits: the customer pages, the finance queue and the JSON API over services.deposits."""

from flask import Flask

from tradeapp import domains
from tradeapp.blueprints.api import register_api
from tradeapp.models import Deposit
from tradeapp.services import deposits

from . import api, staff, views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(staff.bp)
    register_api(api.blp)
    domains.add_queue(
        app,
        "Finance",
        "Deposits",
        "staff_deposits.deposits_queue",
        "deposits.manage",
        counter="deposits",
        count=deposits.pending_count,
        model=Deposit,
        prefix="staff_deposits.",
    )
