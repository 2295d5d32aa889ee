"""Plain helpers for the API tests: payloads, logins, the error shape, token decoding."""

import re

from tests.conftest import PASSWORD


def register_payload(**overrides) -> dict:
    data = {
        "email": "newbie@example.com",
        "username": "newbie",
        "password": "Tangerine-Kettle-42",
        "password_confirm": "Tangerine-Kettle-42",
        "first_name": "New",
        "last_name": "Bie",
        "phone_number": "+44 20 7946 0958",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def login(api, email, password=PASSWORD, **extra):
    return api.post("/api/v1/auth/login/", json={"email": email, "password": password, **extra})


def assert_error(response, status, code=None, fields=None):
    """The response is ``{"error", "code", "fields"}`` with ``status`` (and ``code``, ``fields`` keys)."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "code", "fields"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["fields"], dict)
    if code is not None:
        assert body["code"] == code, body
    for name in fields or ():
        assert body["fields"].get(name), body
    return body


def decode(app, token) -> dict:
    from flask_jwt_extended import decode_token

    with app.app_context():
        return decode_token(token)


def reset_token_from_mail(message_text: str) -> str:
    match = re.search(r"/auth/password/reset/(\S+)", message_text)
    assert match, message_text
    return match.group(1)
