"""POST /api/v1/auth/register/."""

import re

import pytest
from sqlalchemy import func, select

from tradeapp.mail import outbox_messages
from tradeapp.models import User

from .helpers import assert_error, register_payload

URL = "/api/v1/auth/register/"
USER_FIELDS = {
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


def _count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def test_register_creates_customer_and_sends_verification(api_client, db):
    r = api_client.post(URL, json=register_payload(email="NewBie@Example.com"))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert set(body) == {"user", "message"}
    assert body["message"] == "User registered successfully"
    assert set(body["user"]) == USER_FIELDS
    assert body["user"]["email"] == "newbie@example.com"
    assert body["user"]["username"] == "newbie"
    assert body["user"]["phone_number"] == "+44 20 7946 0958"
    assert body["user"]["is_verified"] is False
    assert body["user"]["kyc_status"] == "not_submitted"
    assert len(body["user"]["referral_code"]) == 8
    assert "password" not in body["user"]

    user = db.session.get(User, body["user"]["id"])
    assert user.email == "newbie@example.com" and user.role is None
    assert user.password_hash != "Tangerine-Kettle-42"
    assert user.email_verified_at is None
    mails = outbox_messages()
    assert [m["to"] for m in mails] == ["newbie@example.com"]
    link = re.search(r"http://localhost(/auth/verify/[\w.-]+)", mails[0]["text"])
    assert link, mails[0]["text"]
    assert mails[0]["subject"] == "Confirm your email address"
    # the link is the one that verifies this address
    api_client.client.get(link.group(1))
    db.session.expire_all()
    assert db.session.get(User, user.id).email_verified_at is not None


def test_register_links_referrer(api_client, db, create_user):
    referrer = create_user()
    r = api_client.post(URL, json=register_payload(referred_by_code=referrer.referral_code.lower()))
    assert r.status_code == 201, r.get_json()
    user = db.session.get(User, r.get_json()["user"]["id"])
    assert user.referred_by_id == referrer.id
    assert user.referral_code != referrer.referral_code


def test_register_optional_fields_may_be_omitted_or_null(api_client, db):
    payload = register_payload(first_name=..., last_name=None, phone_number=..., referred_by_code="")
    r = api_client.post(URL, json=payload)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["user"]["last_name"] == ""


def test_register_unknown_referral_code(api_client, db):
    r = api_client.post(URL, json=register_payload(referred_by_code="NOPE1234"))
    body = assert_error(r, 400, "validation_error", ["referred_by_code"])
    assert "referral_code" not in body["fields"]
    assert _count(db) == 0


def test_register_missing_fields(api_client, db):
    r = api_client.post(URL, json={})
    body = assert_error(r, 400, "validation_error", ["email", "username", "password", "password_confirm"])
    assert body["fields"]["email"] == ["Missing data for required field."]
    assert _count(db) == 0


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@example.com", "two@@example.com"])
def test_register_bad_email(api_client, db, email):
    assert_error(api_client.post(URL, json=register_payload(email=email)), 400, "validation_error", ["email"])
    assert _count(db) == 0


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("short1!", "at least"),
        ("1234567890123", "numeric"),
        ("password123", "too common"),
        ("Newbie-2024", "similar"),
        ("x" * 129, "at most"),
    ],
)
def test_register_weak_password(api_client, db, password, expected):
    r = api_client.post(URL, json=register_payload(password=password, password_confirm=password))
    body = assert_error(r, 400, "validation_error", ["password"])
    assert any(expected in message for message in body["fields"]["password"]), body
    assert _count(db) == 0


def test_register_password_mismatch(api_client, db):
    r = api_client.post(URL, json=register_payload(password_confirm="Tangerine-Kettle-43"))
    assert_error(r, 400, "validation_error", ["password_confirm"])
    assert _count(db) == 0


def test_register_duplicate_email_and_username(api_client, db, create_user):
    create_user(email="newbie@example.com", username="someone")
    create_user(email="other@example.com", username="NewBie")
    r = api_client.post(URL, json=register_payload(email="NEWBIE@example.com"))
    body = assert_error(r, 400, "validation_error", ["email", "username"])
    assert "already exists" in body["fields"]["email"][0]
    assert _count(db) == 2
    assert outbox_messages() == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kyc_status", "approved"),
        ("is_verified", True),
        ("role", "admin"),
        ("is_staff", True),
        ("referral_code", "MINE"),
    ],
)
def test_register_ignores_unknown_and_read_only_fields(api_client, db, field, value):
    """As DRF does: unknown and read-only fields are dropped, and the protected values keep their defaults."""
    r = api_client.post(URL, json=register_payload(**{field: value}))
    assert r.status_code == 201, r.get_json()
    user = r.get_json()["user"]
    assert (user["kyc_status"], user["is_verified"]) == ("not_submitted", False)
    assert user["referral_code"] != "MINE"
    from tradeapp.models import User

    created = db.session.query(User).filter_by(email="newbie@example.com").one()
    assert created.role is None and not created.is_verified


def test_register_wrong_types(api_client, db):
    r = api_client.post(URL, json=register_payload(username=["a"], first_name=5))
    assert_error(r, 400, "validation_error", ["username", "first_name"])
    assert _count(db) == 0
