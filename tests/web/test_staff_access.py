"""Every /staff/ route refuses anonymous visitors, customers and staff without its permission.

The routes are read from the app's URL map, so staff routes added later are covered too.
"""

import re

import pytest

from tests.conftest import _TMP, DB_URL, csrf_token, web_login
from tradeapp.permissions import ROLE_PERMISSIONS


def _staff_app():
    # Built at collection time, before the session's app fixture, to read the URL map.
    from tradeapp import create_app
    from tradeapp.config import TestConfig

    return create_app(TestConfig(DB_URL, "", instance_dir=_TMP / "instance"))


def _url(rule) -> str:
    """The rule's path with sample values for its arguments (access checks run before loading)."""
    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", lambda m: "1" if m.group(1) == "int" else "x", rule.rule)


def _staff_routes():
    app = _staff_app()
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/staff/"):
            continue
        view = app.view_functions[rule.endpoint]
        for method in ("GET", "POST"):
            if method in rule.methods:
                routes.append((method, _url(rule), rule.endpoint, getattr(view, "required_permission", None)))
    return routes


STAFF_ROUTES = _staff_routes()


def pytest_generate_tests(metafunc):
    if "staff_route" in metafunc.fixturenames:
        metafunc.parametrize("staff_route", STAFF_ROUTES, ids=[f"{m} {u}" for m, u, _, _ in STAFF_ROUTES])


def _request(client, method, url, token=None, **kw):
    headers = kw.pop("headers", {})
    if method == "POST" and token:
        headers["X-CSRFToken"] = token
    return client.open(url, method=method, headers=headers, **kw)


def test_the_console_has_routes_to_check():
    endpoints = {endpoint for _, _, endpoint, _ in STAFF_ROUTES}
    assert {
        "staff.dashboard",
        "staff.two_factor",
        "staff.roles_listing",
        "staff.audit_listing",
        "staff_users.users_listing",
        "staff_users.user_detail",
        "staff_users.user_set_status",
        "staff_users.user_unlock",
        "staff_users.user_set_role",
        "staff_users.user_reset_two_factor",
    } <= endpoints


def test_every_staff_view_but_two_factor_declares_a_permission():
    # staff.two_factor is the way in: login + staff only, no permission yet.
    missing = {endpoint for _, _, endpoint, perm in STAFF_ROUTES if perm is None} - {"staff.two_factor"}
    assert missing == set()


def test_anonymous_is_sent_to_login(client, staff_route):
    method, url, _, _ = staff_route
    token = csrf_token(client, "/auth/login")
    r = _request(client, method, url, token)
    assert r.status_code in (302, 303)
    assert r.headers["Location"].startswith("/auth/login?next=")


def test_anonymous_json_client_gets_401(client, staff_route):
    method, url, _, _ = staff_route
    token = csrf_token(client, "/auth/login")
    r = _request(client, method, url, token, headers={"Accept": "application/json"})
    assert r.status_code == 401
    assert r.get_json()["code"] == "not_authenticated"


def test_anonymous_htmx_request_gets_hx_redirect(client, staff_route):
    method, url, _, _ = staff_route
    token = csrf_token(client, "/auth/login")
    r = _request(client, method, url, token, headers={"HX-Request": "true"})
    assert r.headers.get("HX-Redirect", "").startswith("/auth/login?next=")


def test_customer_is_refused(logged_in_client, staff_route):
    method, url, _, _ = staff_route
    token = csrf_token(logged_in_client, "/dashboard")
    r = _request(logged_in_client, method, url, token)
    assert r.status_code == 403


def test_staff_without_the_permission_is_refused(staff_client_factory, staff_route):
    method, url, _, permission = staff_route
    lacking = [role for role, perms in ROLE_PERMISSIONS.items() if permission and permission not in perms]
    if not lacking:
        pytest.skip(f"every role holds {permission or 'access to this page'}")
    client, _ = staff_client_factory(lacking[0])
    token = csrf_token(client, "/staff/")
    r = _request(client, method, url, token)
    assert r.status_code == 403


def test_staff_with_password_only_is_sent_to_two_factor(client, create_staff, staff_route):
    method, url, endpoint, _ = staff_route
    if endpoint == "staff.two_factor":
        pytest.skip("the second-factor page itself")
    staff = create_staff("admin")
    assert web_login(client, staff.email).status_code in (302, 303)
    token = csrf_token(client, "/staff/2fa")
    r = _request(client, method, url, token)
    assert r.status_code in (302, 303)
    assert r.headers["Location"].startswith("/staff/2fa?next=")


def test_audit_log_has_no_write_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("staff.audit"):
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule
