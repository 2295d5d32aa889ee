"""tradeapp: a trading platform for a broker."""

import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from tradeapp.config import Config

# The register_* functions import inside: this module runs first whenever any ``tradeapp.*`` module
# is imported, so importing the whole app at the top would load it (and loop) for every import.


def create_app(config: Config | None = None) -> Flask:
    """Build the app: extensions, blueprints, error handlers, CLI commands, socket events."""
    config = config or Config()
    config.check()
    app = Flask(__name__, instance_path=str(config.INSTANCE_DIR))
    app.config.from_object(config)
    app.json = _json_provider(app)
    proxies = config.TRUSTED_PROXY_COUNT
    if proxies > 0:
        # Only the headers the named number of proxies in front of us appended are believed.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    config.INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=config.LOG_LEVEL, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    register_extensions(app)
    register_input_guards(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_jobs(app)
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
    socket_options: dict = {"channel": app.config["SOCKETIO_CHANNEL"]}
    if app.config["SOCKETIO_MESSAGE_QUEUE"] and not app.config["REALTIME_IN_WEB"]:
        # The realtime process holds the browsers' sockets; this process only publishes to the
        # queue (no listener thread decoding every event in every worker).
        import socketio as python_socketio

        socket_options["client_manager"] = python_socketio.RedisManager(
            app.config["SOCKETIO_MESSAGE_QUEUE"], channel=socket_options.pop("channel"), write_only=True
        )
    socketio.init_app(
        app,
        async_mode="threading",
        message_queue=app.config["SOCKETIO_MESSAGE_QUEUE"],
        cors_allowed_origins=[app.config["BASE_URL"]] if not app.config["EMBEDDED"] else None,
        **socket_options,
    )
    init_auth(app)
    register_security_headers(app)
    from tradeapp.templating import register_filters

    register_filters(app)


def register_input_guards(app: Flask) -> None:
    from tradeapp import input_guards

    input_guards.register_input_guards(app)


def register_blueprints(app: Flask) -> None:
    from tradeapp.blueprints import registry

    registry.register_all(app)


def register_errorhandlers(app: Flask) -> None:
    from tradeapp.error_pages import register_error_pages

    register_error_pages(app)


def register_commands(app: Flask) -> None:
    from tradeapp.cli import register_cli

    register_cli(app)


def register_jobs(app: Flask) -> None:
    from tradeapp.jobs import feed

    feed.init_app(app)


def register_socket_events(app: Flask) -> None:
    from tradeapp import sockets

    sockets.register_events()
