"""Home, dashboard, health and the embedded-mode outbox."""

from flask import Flask

from . import views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
