"""Signals: the marketplace and My signals pages, the staff console (providers, plans, publish,
outcomes, revenue) and the signals API."""

from flask import Flask

from tradeapp import domains
from tradeapp.blueprints.api import register_api
from tradeapp.models import TradingSignal
from tradeapp.services.signals import catalog, reports

from . import api, staff, views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(staff.bp)
    domains.add_nav(
        app,
        "Signals",
        "Publish",
        "staff_signals.publish",
        catalog.PUBLISH,
        counter="signals_active",
        prefix="staff_signals.publish",
    )
    domains.add_nav(
        app, "Signals", "Outcomes", "staff_signals.outcomes", catalog.PUBLISH, prefix="staff_signals.outcomes"
    )
    domains.add_nav(
        app, "Signals", "Providers", "staff_signals.providers", catalog.MANAGE, prefix="staff_signals.provider"
    )
    domains.add_nav(app, "Signals", "Plans", "staff_signals.plans", catalog.MANAGE, prefix="staff_signals.plan")
    domains.add_nav(app, "Signals", "Revenue", "staff_signals.revenue", catalog.MANAGE, prefix="staff_signals.revenue")
    domains.add_counter(app, "signals_active", reports.active_signals, TradingSignal)
    register_api(api.blp)
