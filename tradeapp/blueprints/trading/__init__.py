"""Trading: the trade page, pairs and orders in the back office, the market-data and orders API."""

from flask import Flask

from tradeapp import domains
from tradeapp.blueprints.api import register_api
from tradeapp.market.cli import feed_cli
from tradeapp.services.trading import pairs

from . import api, staff, staff_orders, views


def init_app(app: Flask) -> None:
    app.register_blueprint(staff.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(staff_orders.bp)
    register_api(api.blp, api.orders_blp)
    domains.add_nav(app, "Trading", "Pairs", "staff_trading.pairs", pairs.MANAGE, prefix="staff_trading.")
    domains.add_nav(
        app, "Trading", "Orders", "staff_orders.orders_listing", staff_orders.VIEW, prefix="staff_orders.order"
    )
    domains.add_nav(
        app, "Trading", "Trades", "staff_orders.trades_listing", staff_orders.VIEW, prefix="staff_orders.trades"
    )
    domains.add_cli(app, feed_cli)
