"""Rate limits on the account POSTs (login, registration, password reset), on a second app.

The shared test app runs with RATELIMIT_ENABLED off. Flask-Limiter, Flask-SocketIO and
flask-smorest keep some state on their (module-level) extension objects, so the fixture
restores it afterwards and the rest of the suite keeps its unlimited app.
"""

import pytest

from tests.conftest import PASSWORD, csrf_token

# The second app registers the same API blueprints again on a fresh spec: apispec notices.
pytestmark = pytest.mark.filterwarnings("ignore:.*has already been added to the spec")


@pytest.fixture()
def limited_app(app, db, tmp_path):
    from tradeapp import create_app
    from tradeapp.config import TestConfig
    from tradeapp.extensions import api, limiter, socketio

    saved = {
        "limiter_enabled": limiter.enabled,
        "socketio_server": socketio.server,
        "api": (api._app, api.spec, api.config),
    }
    # The shared app's database (conftest's DB_URL: read from the app, since importing
    # tests.conftest again as a module would pick a new temporary SQLite file).
    config = TestConfig(app.config["SQLALCHEMY_DATABASE_URI"], app.config["REDIS_URL"], instance_dir=tmp_path)
    config.RATELIMIT_ENABLED = True
    config.RATELIMIT_STORAGE_URI = "memory://"
    config.LOGIN_RATE_LIMIT = "3 per minute"
    config.SIGNUP_RATE_LIMIT = "2 per minute"
    config.RESET_RATE_LIMIT = "2 per minute"
    limited = create_app(config)
    limiter.reset()
    try:
        yield limited
    finally:
        limiter.reset()
        limiter.enabled = saved["limiter_enabled"]
        socketio.server = saved["socketio_server"]
        api._app, api.spec, api.config = saved["api"]


def assert_rate_limited(response):
    assert response.status_code == 429
    html = response.get_data(as_text=True)
    assert "Too many requests" in html and "<html" in html
    assert response.headers.get("Retry-After")


def test_login_posts_are_rate_limited(limited_app, create_user):
    create_user(email="limited@example.com")
    c = limited_app.test_client()
    for _ in range(3):
        data = {"email": "limited@example.com", "password": "Wrong-password-123", "csrf_token": csrf_token(c)}
        assert c.post("/auth/login", data=data).status_code == 200
    data = {"email": "limited@example.com", "password": PASSWORD, "csrf_token": csrf_token(c)}
    assert_rate_limited(c.post("/auth/login", data=data))
    assert c.get("/auth/login").status_code == 200  # only POSTs count


def test_registration_posts_are_rate_limited(limited_app):
    c = limited_app.test_client()
    for _ in range(2):
        data = {"email": "bad", "username": "x", "csrf_token": csrf_token(c, "/auth/register")}
        assert c.post("/auth/register", data=data).status_code == 200
    data = {"email": "bad", "username": "x", "csrf_token": csrf_token(c, "/auth/register")}
    assert_rate_limited(c.post("/auth/register", data=data))


def test_forgot_password_posts_are_rate_limited(limited_app):
    c = limited_app.test_client()
    for _ in range(2):
        data = {"email": "someone@example.com", "csrf_token": csrf_token(c, "/auth/password/forgot")}
        assert c.post("/auth/password/forgot", data=data).status_code == 200
    data = {"email": "someone@example.com", "csrf_token": csrf_token(c, "/auth/password/forgot")}
    assert_rate_limited(c.post("/auth/password/forgot", data=data))


def test_shared_app_is_not_limited_afterwards(client, user):
    from tests.conftest import web_login

    for _ in range(6):
        assert web_login(client, "nobody@example.com", "Wrong-password-123").status_code in (200, 429)
    # 429 here would be the account lockout (a page with the login form), never the rate limiter.
    r = web_login(client, "other@example.com", "Wrong-password-123")
    assert r.status_code == 200
