"""GET and PATCH /api/v1/auth/me/."""

from datetime import datetime

import pytest
from sqlalchemy import select

from tradeapp.mail import outbox_messages
from tradeapp.models import User

from .helpers import assert_error

ME = "/api/v1/auth/me/"
FIELDS = {
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


def test_me_returns_exactly_the_user_serializer_fields(auth_api_client, user):
    r = auth_api_client.get(ME)
    assert r.status_code == 200
    body = r.get_json()
    assert set(body) == FIELDS
    assert body["id"] == user.id
    assert body["email"] == "alice@example.com"
    assert body["username"] == "alice"
    assert (body["first_name"], body["last_name"]) == ("Alice", "Liddell")
    assert body["is_verified"] is False
    assert body["kyc_status"] == "not_submitted"
    assert body["referral_code"] == user.referral_code
    created = datetime.fromisoformat(body["created_at"])
    assert created.utcoffset() is not None and created.utcoffset().total_seconds() == 0


def test_patch_changes_the_editable_fields(auth_api_client, db, user):
    changes = {"first_name": "Alicia", "last_name": "", "phone_number": "+1 555 0100", "username": "alicia"}
    r = auth_api_client.patch(ME, json=changes)
    assert r.status_code == 200, r.get_json()
    assert {k: r.get_json()[k] for k in changes} == changes
    db.session.expire_all()
    fresh = db.session.get(User, user.id)
    assert (fresh.first_name, fresh.last_name, fresh.phone_number, fresh.username) == (
        "Alicia",
        "",
        "+1 555 0100",
        "alicia",
    )
    assert outbox_messages() == []


def test_patch_with_no_changes(auth_api_client, user):
    r = auth_api_client.patch(ME, json={})
    assert r.status_code == 200
    assert r.get_json()["email"] == user.email


def test_changing_the_email_needs_verification_again(auth_api_client, db, user):
    r = auth_api_client.patch(ME, json={"email": "Alice.New@Example.com"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["email"] == "alice.new@example.com"
    db.session.expire_all()
    assert db.session.get(User, user.id).email_verified_at is None
    assert [m["to"] for m in outbox_messages()] == ["alice.new@example.com"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("is_verified", True),
        ("kyc_status", "approved"),
        ("referral_code", "MINE0001"),
        ("id", 999),
        ("created_at", "2020-01-01T00:00:00Z"),
    ],
)
def test_read_only_fields_are_ignored_and_never_change(auth_api_client, db, user, field, value):
    """As DRF does: the read-only field is dropped, the writable one is saved."""
    before = auth_api_client.get(ME).get_json()
    r = auth_api_client.patch(ME, json={field: value, "first_name": "Mallory"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {**before, "first_name": "Mallory"}
    db.session.expire_all()
    assert db.session.get(User, user.id).first_name == "Mallory"


def test_a_whole_user_sent_back_is_accepted(auth_api_client, db, user):
    """A client that PATCHes the object it was given (read-only fields and all) succeeds."""
    me = auth_api_client.get(ME).get_json()
    r = auth_api_client.patch(ME, json={**me, "kyc_status": "approved", "is_verified": True, "last_name": "L."})
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["kyc_status"], r.get_json()["is_verified"], r.get_json()["last_name"]) == (
        me["kyc_status"],
        me["is_verified"],
        "L.",
    )


def test_unknown_fields_are_ignored(auth_api_client, db, user):
    r = auth_api_client.patch(ME, json={"role": "admin"})
    assert r.status_code == 200
    db.session.expire_all()
    assert db.session.get(User, user.id).role is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"username": "a"}, "username"),
        ({"username": "has spaces!"}, "username"),
        ({"phone_number": "call me"}, "phone_number"),
        ({"first_name": "x" * 151}, "first_name"),
        ({"email": None}, "email"),
        ({"username": 12}, "username"),
    ],
)
def test_patch_bad_values(auth_api_client, db, user, changes, field):
    assert_error(auth_api_client.patch(ME, json=changes), 400, "validation_error", [field])
    db.session.expire_all()
    assert db.session.get(User, user.id).username == "alice"


def test_patch_taken_email_or_username(auth_api_client, db, user, create_user):
    create_user(email="bob@example.com", username="bob")
    assert_error(auth_api_client.patch(ME, json={"email": "BOB@example.com"}), 400, "validation_error", ["email"])
    assert_error(auth_api_client.patch(ME, json={"username": "Bob"}), 400, "validation_error", ["username"])
    assert db.session.scalar(select(User.email).where(User.id == user.id)) == "alice@example.com"


@pytest.mark.parametrize("method", ["get", "patch"])
def test_me_needs_a_token(api_client, db, method):
    r = getattr(api_client, method)(ME, json={"first_name": "x"}) if method == "patch" else api_client.get(ME)
    assert_error(r, 401, "not_authenticated")


def test_patch_without_a_token_is_401_even_with_bad_input(api_client, db):
    assert_error(api_client.patch(ME, json={"kyc_status": "approved"}), 401, "not_authenticated")
