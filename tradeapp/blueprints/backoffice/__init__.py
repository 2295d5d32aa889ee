"""The back office: money histories, user 360 actions, reports; the money-first dashboard lives in staff."""

from datetime import timedelta

from flask import Flask
from flask_login import current_user

from tradeapp import domains
from tradeapp.services import compliance

from . import charts, history, reports, users


def init_app(app: Flask) -> None:
    app.register_blueprint(history.bp)
    app.register_blueprint(users.bp)
    app.register_blueprint(reports.bp)
    domains.add_nav(
        app,
        "Finance",
        "Deposit history",
        "staff_history.deposits_listing",
        "deposits.manage",
        prefix="staff_history.deposits",
    )
    domains.add_nav(
        app,
        "Finance",
        "Withdrawal history",
        "staff_history.withdrawals_listing",
        "withdrawals.manage",
        prefix="staff_history.withdrawals",
    )
    domains.add_nav(app, "Reports", "Reports", "staff_reports.index", "reports.view", prefix="staff_reports.")
    reports.register_cli(app)
    app.jinja_env.globals.update(bar_chart=charts.bar_chart, timedelta=timedelta, account_frozen=account_frozen)


def account_frozen() -> bool:
    """Whether the logged-in customer's account is frozen (the customer layout's banner)."""
    return current_user.is_authenticated and not current_user.is_staff and compliance.is_frozen(current_user.id)
