"""Ledger back office: reconciliation report, per-user ledgers and ``flask ledger check``."""

from flask import Flask

from tradeapp import domains

from . import cli, staff


def init_app(app: Flask) -> None:
    app.register_blueprint(staff.bp)
    domains.add_nav(app, "Finance", "Ledger", "staff_ledger.report", "ledger.view", prefix="staff_ledger.")
    domains.add_cli(app, cli.ledger_cli)
