"""Withdrawals: the customer page, the staff queue and the JSON API over services.withdrawals."""

from flask import Flask

from tradeapp import domains
from tradeapp.blueprints.api import register_api
from tradeapp.models import Withdrawal
from tradeapp.services import withdrawals

from . import api, staff, views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(staff.bp)
    register_api(api.blp)
    # The approval queue: its sidebar link shows the pending count, pushed after every change.
    domains.add_queue(
        app,
        "Finance",
        "Withdrawals",
        "staff_withdrawals.withdrawals_queue",
        withdrawals.MANAGE,
        counter="withdrawals",
        count=withdrawals.pending_count,
        model=Withdrawal,
        prefix="staff_withdrawals.",
    )
