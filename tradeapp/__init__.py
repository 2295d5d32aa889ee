"""tradeapp: a trading platform for a broker."""

import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from tradeapp.config import Config


def create_app(config: Config | None = None) -> Flask:
    """Build the app: extensions, blueprints, error handlers, CLI commands, socket events."""
    config = config or Config()
    config.check()
    app = Flask(__name__, instance_path=str(config.INSTANCE_DIR))
    app.config.from_object(config)
    app.json = _json_provider(app)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    config.INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=config.LOG_LEVEL, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_socket_events(app)
    return app


def _json_provider(app: Flask):
    """JSON numbers decode as Decimals (money is never a float), NaN and absurd nesting are refused."""
    from tradeapp.blueprints.api import ApiJSONProvider

    return ApiJSONProvider(app)


def register_extensions(app: Flask) -> None:
    from tradeapp import models  # noqa: F401 - every table on the metadata
    from tradeapp.auth import init_auth
    from tradeapp.db_setup import init_db
    from tradeapp.extensions import api, csrf, db, htmx, jwt, limiter, login_manager, migrate, socketio
    from tradeapp.security import register_security_headers

    db.init_app(app)
    init_db(app)
    migrate.init_app(app, db, render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    jwt.init_app(app)
    limiter.init_app(app)
    api.init_app(app)
    socketio.init_app(
        app,
        async_mode="threading",
        message_queue=app.config["SOCKETIO_MESSAGE_QUEUE"],
        cors_allowed_origins=[app.config["BASE_URL"]] if not app.config["EMBEDDED"] else None,
    )
    init_auth(app)
    register_security_headers(app)
    from tradeapp.templating import register_filters

    register_filters(app)


def register_blueprints(app: Flask) -> None:
    from tradeapp.blueprints import registry

    registry.register_all(app)


def register_errorhandlers(app: Flask) -> None:
    from tradeapp.error_pages import register_error_pages

    register_error_pages(app)


def register_commands(app: Flask) -> None:
    from tradeapp.cli import register_cli

    register_cli(app)


def register_socket_events(app: Flask) -> None:
    from tradeapp import realtime

    realtime.register_events()
