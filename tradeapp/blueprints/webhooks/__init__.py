"""Payment provider webhooks (Stripe), authenticated by signature."""

from flask import Flask

from tradeapp.extensions import csrf

from . import views


def init_app(app: Flask) -> None:
    # Webhooks authenticate by the provider's signature, not cookies: no CSRF.
    csrf.exempt(views.bp)
    app.register_blueprint(views.bp)
