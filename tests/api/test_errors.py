"""The API's error shape for what never reaches a view: unknown URLs, wrong methods, bad bodies."""

import pytest

from .helpers import assert_error

LOGIN = "/api/v1/auth/login/"


@pytest.mark.parametrize("url", ["/api/v1/nothing-here/", "/api/v1/auth/login", "/api/v1/auth/me/extra/", "/api/"])
def test_unknown_api_url_is_json_404(api_client, db, url):
    assert_error(api_client.get(url), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        ("get", LOGIN, {"POST"}),
        ("delete", "/api/v1/auth/me/", {"GET", "PATCH"}),
        ("patch", "/api/v1/auth/register/", {"POST"}),
    ],
)
def test_wrong_method_is_json_405_with_allow(api_client, db, method, url, allowed):
    r = getattr(api_client, method)(url)
    assert_error(r, 405, "method_not_allowed")
    assert allowed <= {m.strip() for m in r.headers["Allow"].split(",")}


def test_form_body_is_read_like_json(api_client, db):
    """The seed's DRF parsers take form bodies too: a form login is checked like a JSON one."""
    r = api_client.client.post(LOGIN, data={"email": "a@example.com", "password": "x"})
    assert_error(r, 401, "authentication_failed")


def test_json_nested_too_deep_is_a_parse_error(api_client, db):
    r = api_client.client.post(LOGIN, data="[" * 50_000 + "]" * 50_000, content_type="application/json")
    assert_error(r, 400, "parse_error")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_json_constants_that_are_not_numbers_are_parse_errors(api_client, db, literal):
    r = api_client.client.post(LOGIN, data=f'{{"email": {literal}}}', content_type="application/json")
    assert_error(r, 400, "parse_error")


def test_text_body_is_refused_with_415(api_client, db):
    r = api_client.client.post(LOGIN, data='{"email": "a@example.com"}', content_type="text/plain")
    assert_error(r, 415, "unsupported_media_type")


def test_malformed_json_is_a_parse_error(api_client, db):
    r = api_client.client.post(LOGIN, data="{not json", content_type="application/json")
    assert_error(r, 400, "parse_error")


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "null", "42"])
def test_json_that_is_not_an_object(api_client, db, body):
    r = api_client.client.post(LOGIN, data=body, content_type="application/json")
    assert_error(r, 400)


def test_empty_body_is_missing_fields(api_client, db):
    r = api_client.client.post(LOGIN)
    assert_error(r, 400, "validation_error", ["email", "password"])


def test_api_errors_are_not_cached(api_client, db):
    r = api_client.get("/api/v1/auth/me/")
    assert r.status_code == 401
    assert r.headers["Cache-Control"] == "no-store"
