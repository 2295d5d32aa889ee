"""Copy trading: the leaderboard, trader pages, following and My copies; the staff's lead-trader console; the API."""

from flask import Flask

from tradeapp import domains
from tradeapp.blueprints.api import register_api
from tradeapp.models import Trader
from tradeapp.services.copy_trading import engine, traders

from . import api, staff, views


def init_app(app: Flask) -> None:
    engine.install()
    app.register_blueprint(views.bp)
    app.register_blueprint(staff.bp)
    register_api(api.blp)
    domains.add_queue(
        app,
        "Copy trading",
        "Applications",
        "staff_copy.applications_queue",
        traders.MANAGE,
        counter="copy_applications",
        count=traders.pending_count,
        model=Trader,
    )
    domains.add_nav(
        app, "Copy trading", "Lead traders", "staff_copy.traders_listing", traders.MANAGE, prefix="staff_copy.trader"
    )
    domains.add_nav(app, "Copy trading", "Settlements", "staff_copy.settlements_listing", traders.MANAGE)
