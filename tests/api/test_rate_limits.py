"""Rate limits on login, registration, password reset and refresh (on a second app with limits on)."""

import pytest

from tests.conftest import PASSWORD
from tradeapp.extensions import db
from tradeapp.models import User
from tradeapp.services.tokens import issue_tokens

from .helpers import assert_error, register_payload


@pytest.mark.parametrize(
    ("setting", "url", "body"),
    [
        ("LOGIN_RATE_LIMIT", "/api/v1/auth/login/", {"email": "x@example.com", "password": "nope-nope-1"}),
        ("SIGNUP_RATE_LIMIT", "/api/v1/auth/register/", {"email": "bad"}),
        ("RESET_RATE_LIMIT", "/api/v1/auth/password-reset/", {"email": "x@example.com"}),
        (
            "RESET_RATE_LIMIT",
            "/api/v1/auth/password-reset-confirm/",
            {"token": "t", "password": "p", "password_confirm": "p"},
        ),
        ("REFRESH_RATE_LIMIT", "/api/v1/auth/refresh/", {"refresh": "garbage"}),
    ],
)
def test_endpoint_is_rate_limited_with_a_json_429(limited_app, setting, url, body):
    api = limited_app(**{setting: "2 per minute"})
    statuses = [api.post(url, json=body).status_code for _ in range(2)]
    assert 429 not in statuses
    r = api.post(url, json=body)
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) > 0


def _tokens_in(api, user_id: int) -> dict:
    with api.client.application.app_context():
        return issue_tokens(db.session.get(User, user_id))


def test_limit_counts_requests_whatever_the_outcome(limited_app, user):
    email = user.email
    api = limited_app(LOGIN_RATE_LIMIT="3 per minute")
    assert api.post("/api/v1/auth/login/", json={"email": email, "password": "wrong-password-1"}).status_code == 401
    assert api.post("/api/v1/auth/login/", json={}).status_code == 400
    assert api.post("/api/v1/auth/login/", json={"email": email, "password": PASSWORD}).status_code == 200
    assert_error(api.post("/api/v1/auth/login/", json={"email": email, "password": PASSWORD}), 429, "rate_limited")


def test_limits_are_per_endpoint(limited_app, user):
    user_id = user.id
    api = limited_app(LOGIN_RATE_LIMIT="1 per minute", REFRESH_RATE_LIMIT="5 per minute")
    api.post("/api/v1/auth/login/", json={"email": "a@example.com", "password": "x"})
    assert api.post("/api/v1/auth/login/", json={"email": "a@example.com", "password": "x"}).status_code == 429
    assert api.post("/api/v1/auth/register/", json=register_payload()).status_code == 201
    pair = _tokens_in(api, user_id)
    assert api.post("/api/v1/auth/refresh/", json={"refresh": pair["refresh"]}).status_code == 200


def test_me_is_not_rate_limited_by_the_auth_limits(limited_app, user):
    user_id = user.id
    api = limited_app(LOGIN_RATE_LIMIT="1 per minute", REFRESH_RATE_LIMIT="1 per minute")
    api.token = _tokens_in(api, user_id)["access"]
    assert all(api.get("/api/v1/auth/me/").status_code == 200 for _ in range(5))


def test_forged_forwarded_for_does_not_dodge_the_login_limit(limited_app):
    # No proxy is trusted by default: twelve forged client addresses are still one client.
    api = limited_app(LOGIN_RATE_LIMIT="10 per minute")
    codes = [
        api.post(
            "/api/v1/auth/login/",
            json={"email": f"x{n}@example.com", "password": "nope-nope-1"},  # no account lockout in play
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        ).get_json()["code"]
        for n in range(12)
    ]
    assert codes == ["authentication_failed"] * 10 + ["rate_limited"] * 2


def test_a_trusted_proxy_count_believes_the_proxys_address(limited_app):
    # Behind one proxy, the address it appended is the client's: two clients, two budgets.
    api = limited_app(LOGIN_RATE_LIMIT="1 per minute", TRUSTED_PROXY_COUNT=1)
    body = {"email": "x@example.com", "password": "nope-nope-1"}
    assert api.post("/api/v1/auth/login/", json=body, headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 401
    assert api.post("/api/v1/auth/login/", json=body, headers={"X-Forwarded-For": "203.0.113.2"}).status_code == 401
    assert api.post("/api/v1/auth/login/", json=body, headers={"X-Forwarded-For": "203.0.113.2"}).status_code == 429
