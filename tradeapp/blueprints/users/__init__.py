"""Users domain: customer auth pages, profile, staff user management, auth API."""

from flask import Flask

from tradeapp import domains
from tradeapp.blueprints.api import register_api

from . import api, cli, staff, views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(staff.bp)
    register_api(api.blp)
    domains.add_nav(app, "People", "Users", "staff_users.users_listing", "users.view", prefix="staff_users.")
    domains.add_cli(app, cli.users_cli)
