"""Hostile input gets a clear 4xx, never a 500: huge ids and pages, NUL characters, oversized bodies."""

import re

import pytest
from werkzeug.routing import IntegerConverter

from tests.api.helpers import assert_error
from tests.conftest import csrf_token

HUGE = str(2**64)
ID_JUST_OVER = str(2**31)  # ids are 32-bit INTEGER columns


def _int_rules(app):
    for rule in app.url_map.iter_rules():
        if any(isinstance(c, IntegerConverter) for c in rule._converters.values()):
            yield rule


def _fill(rule, value):
    return re.sub(
        r"<(?:[a-z]+:)?([a-z_]+)>",
        lambda m: value if isinstance(rule._converters[m.group(1)], IntegerConverter) else "BTCUSD",
        rule.rule,
    )


def test_the_app_has_int_routes(app):
    assert len(list(_int_rules(app))) > 10


@pytest.mark.parametrize("value", [HUGE, ID_JUST_OVER, "9" * 40])
def test_overflowing_path_ids_are_404_on_every_route(app, logged_in_client, auth_api_client, value):
    for rule in _int_rules(app):
        url = _fill(rule, value)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            client = auth_api_client if rule.rule.startswith("/api/") else logged_in_client
            r = getattr(client, method.lower())(url) if method != "PUT" else client.client.put(url)
            assert r.status_code in (404, 405), (method, url, r.status_code)  # 405: a string route took it


def test_the_largest_id_is_still_a_plain_404(logged_in_client, auth_api_client):
    assert auth_api_client.get(f"/api/v1/orders/{2**31 - 1}/").status_code == 404
    assert logged_in_client.get(f"/deposits/{2**31 - 1}").status_code == 404


@pytest.mark.parametrize("page", [HUGE, ID_JUST_OVER, "-" + HUGE, "1000001"])
def test_overflowing_page_numbers_are_400(app, api_client, auth_api_client, logged_in_client, page):
    assert_error(api_client.get(f"/api/v1/trading-pairs/?page={page}"), 400, "out_of_range", ["page"])
    assert_error(auth_api_client.get(f"/api/v1/orders/?page={page}"), 400, "out_of_range", ["page"])
    assert_error(auth_api_client.get(f"/api/v1/transactions/?page_size={page}"), 400, "out_of_range", ["page_size"])
    r = logged_in_client.get(f"/wallets/history?page={page}")
    assert r.status_code == 400 and "text/html" in r.content_type


def test_deep_but_sane_pages_are_empty_not_errors(auth_api_client):
    r = auth_api_client.get("/api/v1/orders/?page=1000000")
    assert r.status_code == 200 and r.get_json()["results"] == []


def test_staff_lists_refuse_overflowing_pages(staff_client):
    for url in ("/staff/users/", "/staff/audit/"):
        assert staff_client.get(f"{url}?page={HUGE}").status_code == 400


# -- NUL characters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", "/api/v1/transfers/", {"to_username": "bob\u0000", "currency": "USD", "amount": "1"}),
        ("post", "/api/v1/transfers/", {"to_username": "bob", "currency": "USD", "amount": "1", "note": "a\x00b"}),
        ("post", "/api/v1/orders/", {"symbol": "BTC\u0000USD", "side": "buy", "order_type": "market", "quantity": "1"}),
        ("patch", "/api/v1/auth/me/", {"first_name": "Al\u0000ice"}),
        ("post", "/api/v1/auth/login/", {"email": "a\u0000@example.com", "password": "x"}),
    ],
)
def test_nul_in_json_is_400(auth_api_client, method, url, body):
    r = getattr(auth_api_client, method)(url, json=body)
    assert_error(r, 400, "invalid_characters")


def test_an_escaped_backslash_before_u0000_is_plain_text(auth_api_client):
    # "\\u0000" in JSON is a backslash followed by the letters u0000: no NUL.
    r = auth_api_client.client.patch(
        "/api/v1/auth/me/",
        data=b'{"first_name": "Al\\\\u0000ice"}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {auth_api_client.token}"},
    )
    assert r.status_code in (200, 400)
    assert r.get_json().get("code") != "invalid_characters"


def test_nul_in_path_and_query_is_400(api_client):
    assert_error(api_client.get("/api/v1/market-data/BTC%00USD/"), 400, "invalid_characters")
    assert_error(api_client.get("/api/v1/trading-pairs/?search=a%00b"), 400, "invalid_characters")


def test_nul_in_the_login_form_is_400(client, db):
    token = csrf_token(client, "/auth/login")
    r = client.post("/auth/login", data={"email": "a\x00@example.com", "password": "x", "csrf_token": token})
    assert r.status_code == 400 and "NUL" in r.get_data(as_text=True)


def test_nul_in_the_profile_form_is_400(logged_in_client):
    token = csrf_token(logged_in_client, "/account/")
    r = logged_in_client.post(
        "/account/",
        data={"csrf_token": token, "first_name": "Al\x00ice", "last_name": "L", "email": "alice@example.com"},
    )
    assert r.status_code == 400 and "NUL" in r.get_data(as_text=True)


# -- bodies ----------------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_a_json_413(app, auth_api_client, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)
    r = auth_api_client.post("/api/v1/transfers/", json={"note": "x" * 4096})
    assert_error(r, 413)


def test_a_form_over_the_limit_is_a_413_page(app, logged_in_client, monkeypatch):
    token = csrf_token(logged_in_client, "/account/")
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)
    r = logged_in_client.post("/account/", data={"csrf_token": token, "first_name": "x" * 4096})
    assert r.status_code == 413


def test_recursion_is_a_400_not_a_500(app, client, db, monkeypatch):
    from flask import Blueprint

    def boom():
        def down(n):
            return down(n + 1)

        return down(0)

    # The handler is app-wide: any view that recurses without end answers 400.
    from tradeapp.error_pages import register_error_pages  # noqa: F401 - the handler under test

    view = app.view_functions["main.health"]
    monkeypatch.setitem(app.view_functions, "main.health", boom)
    monkeypatch.setitem(app.config, "PROPAGATE_TEST_ERRORS", False)
    r = client.get("/healthz", headers={"Accept": "application/json"})
    assert_error(r, 400, "too_deep")
    assert view is not None and Blueprint is not None


@pytest.mark.parametrize("error", ["DeadlockDetected", "SerializationFailure"])
def test_a_lost_database_race_is_a_503_to_retry(app, client, db, monkeypatch, error):
    import psycopg.errors
    from sqlalchemy.exc import OperationalError

    def lost_race():
        raise OperationalError("UPDATE wallets …", {}, getattr(psycopg.errors, error)())

    monkeypatch.setitem(app.view_functions, "main.health", lost_race)
    monkeypatch.setitem(app.config, "PROPAGATE_TEST_ERRORS", False)
    r = client.get("/healthz", headers={"Accept": "application/json"})
    assert_error(r, 503, "busy")
    assert r.headers["Retry-After"] == "1"


def test_other_database_errors_stay_500(app, client, db, monkeypatch):
    from sqlalchemy.exc import ProgrammingError

    def broken():
        raise ProgrammingError("SELECT nonsense", {}, Exception("syntax error"))

    monkeypatch.setitem(app.view_functions, "main.health", broken)
    monkeypatch.setitem(app.config, "PROPAGATE_TEST_ERRORS", False)
    assert client.get("/healthz", headers={"Accept": "application/json"}).status_code == 500


def test_json_nested_fifty_thousand_deep_is_a_400(app, auth_api_client, monkeypatch):
    # However the API decodes JSON, a stack-exhausting body ends as a 400 (the RecursionError handler).
    monkeypatch.setitem(app.config, "PROPAGATE_TEST_ERRORS", False)
    body = b"[" * 50_000 + b"]" * 50_000
    r = auth_api_client.client.post(
        "/api/v1/transfers/",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {auth_api_client.token}"},
    )
    assert r.status_code == 400 and r.mimetype == "application/json"


def test_the_openapi_document_states_the_limits_the_guard_enforces(client, db):
    from tradeapp.input_guards import ID_MAX, MAX_PAGE

    spec = client.get("/api/schema/").get_json()
    params = {p["name"]: p["schema"] for p in spec["paths"]["/api/v1/trading-pairs/"]["get"]["parameters"]}
    assert params["page"]["maximum"] == MAX_PAGE
    trades = {p["name"]: p["schema"] for p in spec["paths"]["/api/v1/trades/"]["get"]["parameters"]}
    assert trades["order"]["maximum"] == ID_MAX
    (deposit_id,) = spec["paths"]["/api/v1/deposits/{deposit_id}/"]["parameters"]  # path-level parameters
    assert deposit_id["schema"]["maximum"] == ID_MAX
