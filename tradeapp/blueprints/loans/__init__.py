"""Loans: the customer pages, the staff queue and back office, and the JSON API over services.loans."""

from flask import Flask

from tradeapp import domains
from tradeapp.blueprints.api import register_api
from tradeapp.models import Loan
from tradeapp.services import loans

from . import api, staff, views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(staff.bp)
    register_api(api.products_blp, api.blp, api.repayments_blp)
    # The application queue: its sidebar link shows the pending count, pushed after every loan change.
    domains.add_queue(
        app,
        "Loans",
        "Loan queue",
        "staff_loans.loans_queue",
        loans.MANAGE,
        counter="loans",
        count=loans.pending_count,
        model=Loan,
        prefix="staff_loans.loan",
    )
    domains.add_nav(app, "Loans", "Delinquency", "staff_loans.delinquency", loans.MANAGE)
    domains.add_nav(app, "Loans", "Liquidations", "staff_loans.liquidations", loans.MANAGE)
    domains.add_nav(app, "Loans", "Loan products", "staff_loans.products", loans.MANAGE, prefix="staff_loans.product")
