"""Notifications: the bell, the notifications page, preferences (pages) and their JSON API."""

from flask import Flask

from tradeapp.blueprints.api import register_api

from . import api, views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    register_api(api.blp, api.prefs_blp)
    app.jinja_env.globals["notification_unread"] = views.unread_for_bell
    app.jinja_env.globals["notification_preferences"] = views.preferences_for_account
    app.jinja_env.globals["notification_label"] = views.kind_label
