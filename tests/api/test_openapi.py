"""The OpenAPI document at /api/schema/, the Swagger UI page at /api/docs/, and the page schema helper."""

import json
import re

import pytest

AUTH_OPERATIONS = {
    "/api/v1/auth/register/": {"post"},
    "/api/v1/auth/login/": {"post"},
    "/api/v1/auth/logout/": {"post"},
    "/api/v1/auth/refresh/": {"post"},
    "/api/v1/auth/password-reset/": {"post"},
    "/api/v1/auth/password-reset-confirm/": {"post"},
    "/api/v1/auth/me/": {"get", "patch"},
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
PROTECTED = {("/api/v1/auth/logout/", "post"), ("/api/v1/auth/me/", "get"), ("/api/v1/auth/me/", "patch")}


@pytest.fixture()
def spec(client):
    r = client.get("/api/schema/")
    assert r.status_code == 200
    assert r.mimetype == "application/json"
    return json.loads(r.get_data(as_text=True))


def _resolve(spec, ref: str) -> dict:
    node = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_document_lists_every_auth_endpoint(spec):
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] and spec["info"]["version"]
    for path, methods in AUTH_OPERATIONS.items():
        assert path in spec["paths"], path
        assert methods <= set(spec["paths"][path]), path
    assert all(path.endswith("/") for path in spec["paths"])


def test_bearer_auth_on_protected_operations_only(spec):
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    for path, methods in AUTH_OPERATIONS.items():
        for method in methods:
            operation = spec["paths"][path][method]
            if (path, method) in PROTECTED:
                assert operation["security"] == [{"bearerAuth": []}], (path, method)
                assert "401" in operation["responses"]
            else:
                assert "security" not in operation, (path, method)


def test_errors_are_documented_in_our_shape(spec):
    error = spec["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"error", "code", "fields"}
    assert set(error["required"]) == {"error", "code", "fields"}
    # Every error answer of every API blueprint, not only the auth ones.
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in HTTP_METHODS:
                continue  # path-level "parameters"
            for status, response in operation["responses"].items():
                if status.startswith(("4", "default")):
                    response = _resolve(spec, response["$ref"]) if "$ref" in response else response
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, status)
    # Validation errors are documented as 400, as they are sent; never flask-smorest's 422.
    for path, methods in AUTH_OPERATIONS.items():
        for method in methods:
            responses = spec["paths"][path][method]["responses"]
            assert "422" not in responses, (path, method)
    assert "400" in spec["paths"]["/api/v1/auth/register/"]["post"]["responses"]
    assert "PaginationMetadata" not in spec["components"]["schemas"]


def test_request_and_response_schemas(spec):
    schemas = spec["components"]["schemas"]
    register = spec["paths"]["/api/v1/auth/register/"]["post"]
    assert "201" in register["responses"]
    body = _resolve(spec, register["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    assert set(body["required"]) == {"email", "username", "password", "password_confirm"}
    assert "referred_by_code" in body["properties"]
    assert set(schemas["User"]["properties"]) == {
        "id",
        "email",
        "username",
        "first_name",
        "last_name",
        "phone_number",
        "is_verified",
        "kyc_status",
        "referral_code",
        "created_at",
    }
    for name in ("id", "is_verified", "kyc_status", "referral_code", "created_at"):
        assert schemas["User"]["properties"][name].get("readOnly") is True, name
    patch = spec["paths"]["/api/v1/auth/me/"]["patch"]
    editable = _resolve(spec, patch["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    assert set(editable["properties"]) == {"email", "username", "first_name", "last_name", "phone_number"}
    assert set(schemas["TokenPair"]["properties"]) == {"access", "refresh"}


def test_every_reference_resolves(spec):
    for ref in set(_refs(spec)):
        assert _resolve(spec, ref), ref


def test_docs_page_is_swagger_ui_without_inline_script(client):
    r = client.get("/api/docs/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S)
    assert scripts and all(body.strip() == "" for body in scripts)
    assert all("src=" in tag for tag in re.findall(r"<script\b[^>]*>", html))
    assert not re.search(r"\son\w+=", html)
    assert "style=" not in html
    assert 'data-schema-url="/api/schema/"' in html
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert client.get(asset).status_code == 200, asset
    assert "/static/js/api-docs.js" in html
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html


def test_page_schema_and_paginate(app, db, create_user):
    from sqlalchemy import select

    from tradeapp.blueprints.api import page_schema, paginate
    from tradeapp.blueprints.users.schemas import UserSchema
    from tradeapp.models import User

    for _ in range(5):
        create_user()
    page = page_schema(UserSchema)
    assert page is page_schema(UserSchema)
    assert set(page().fields) == {"count", "next", "previous", "results"}

    query = select(User).order_by(User.id)
    with app.test_request_context("/api/v1/users/?page=2&page_size=2"):
        data = page().dump(paginate(query))
    assert data["count"] == 5
    assert [row["username"] for row in data["results"]] == ["user3", "user4"]
    assert data["next"].endswith("/api/v1/users/?page=3&page_size=2")
    assert data["previous"].endswith("/api/v1/users/?page=1&page_size=2")
    with app.test_request_context("/api/v1/users/?page=3&page_size=2"):
        last = paginate(query, UserSchema())
    assert last["next"] is None and [row["username"] for row in last["results"]] == ["user5"]
    with app.test_request_context("/api/v1/users/?page=x"):
        assert paginate(query, UserSchema())["previous"] is None
