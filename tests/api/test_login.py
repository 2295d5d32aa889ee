"""POST /api/v1/auth/login/: credentials, lockout, staff second factor, token lifetimes."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import TOTP_SECRET, totp_now
from tradeapp.models import AuditLog, RefreshToken

from .helpers import assert_error, decode, login

URL = "/api/v1/auth/login/"


def _tokens(db) -> int:
    return db.session.scalar(select(func.count()).select_from(RefreshToken))


def test_login_returns_access_and_refresh(app, api_client, db, user):
    r = login(api_client, "Alice@Example.com")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert set(body) == {"access", "refresh"}
    access, refresh = decode(app, body["access"]), decode(app, body["refresh"])
    assert access["type"] == "access" and refresh["type"] == "refresh"
    assert access["sub"] == refresh["sub"] == str(user.id)
    assert timedelta(seconds=access["exp"] - access["iat"]) == timedelta(hours=1)
    assert timedelta(seconds=refresh["exp"] - refresh["iat"]) == timedelta(days=7)
    row = db.session.scalar(select(RefreshToken).where(RefreshToken.jti == refresh["jti"]))
    assert row.user_id == user.id and row.revoked_at is None
    # A customer's login is not a staff login.
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "staff.login")) is None


def test_access_token_opens_me(api_client, db, user):
    api_client.token = login(api_client, user.email).get_json()["access"]
    r = api_client.get("/api/v1/auth/me/")
    assert r.status_code == 200
    assert r.get_json()["email"] == user.email


def test_wrong_password_and_unknown_email_answer_alike(api_client, db, user):
    wrong = login(api_client, user.email, "Not-the-password-1")
    unknown = login(api_client, "nobody@example.com", "Not-the-password-1")
    assert_error(wrong, 401, "authentication_failed")
    assert wrong.status_code == unknown.status_code
    assert wrong.get_json() == unknown.get_json()
    assert _tokens(db) == 0


def test_disabled_account_answers_like_a_wrong_password(api_client, db, create_user):
    disabled = create_user(is_active_flag=False)
    r = login(api_client, disabled.email)
    assert r.get_json() == login(api_client, "nobody@example.com").get_json()
    assert_error(r, 401, "authentication_failed")


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, ["email", "password"]),
        ({"email": "alice@example.com"}, ["password"]),
        ({"email": 5, "password": None}, ["email", "password"]),
    ],
)
def test_login_bad_input(api_client, db, user, payload, fields):
    assert_error(api_client.post(URL, json=payload), 400, "validation_error", fields)
    assert _tokens(db) == 0


def test_lockout_after_repeated_failures(app, api_client, db, user):
    threshold = app.config["LOCKOUT_THRESHOLD"]
    for _ in range(threshold):
        assert login(api_client, user.email, "Not-the-password-1").status_code == 401
    locked = login(api_client, user.email)  # even the right password
    body = assert_error(locked, 429, "account_locked")
    assert int(locked.headers["Retry-After"]) > 0
    assert "Try again" in body["error"]
    assert _tokens(db) == 0


def test_lockout_does_not_reveal_unknown_addresses(app, api_client, db):
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        login(api_client, "ghost@example.com")
    assert_error(login(api_client, "ghost@example.com"), 429, "account_locked")


# -- staff: password + TOTP code ---------------------------------------------------------------


def test_staff_without_otp_gets_no_tokens(api_client, db, create_staff):
    staff = create_staff("finance")
    body = assert_error(login(api_client, staff.email), 401, "otp_required", ["otp"])
    assert "access" not in body and "refresh" not in body
    assert_error(login(api_client, staff.email, otp=""), 401, "otp_required")
    assert _tokens(db) == 0


def test_staff_with_wrong_otp(api_client, db, create_staff):
    staff = create_staff("admin")
    wrong = "000000" if totp_now() != "000000" else "111111"
    assert_error(login(api_client, staff.email, otp=wrong), 401, "otp_invalid", ["otp"])
    assert_error(login(api_client, staff.email, otp="abc"), 401, "otp_invalid")
    assert _tokens(db) == 0
    failed = db.session.scalars(select(AuditLog).where(AuditLog.action == "staff.login_failed")).all()
    assert len(failed) == 2 and failed[0].actor_id == staff.id


def test_staff_wrong_codes_count_towards_lockout(app, api_client, db, create_staff):
    staff = create_staff("admin")
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        assert login(api_client, staff.email, otp="12345x").status_code == 401
    assert_error(login(api_client, staff.email, otp=totp_now()), 429, "account_locked")
    assert _tokens(db) == 0


def test_staff_with_good_otp_gets_tokens_and_is_audited(app, api_client, db, create_staff):
    staff = create_staff("compliance")
    r = login(api_client, staff.email, otp=totp_now())
    assert r.status_code == 200, r.get_json()
    assert decode(app, r.get_json()["access"])["role"] == "compliance"
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "staff.login"))
    assert row.actor_id == staff.id and row.target_id == str(staff.id)
    assert row.after == {"channel": "api"}
    assert row.ip_address == "127.0.0.1"


def test_staff_otp_cannot_be_replayed(api_client, db, create_staff):
    staff = create_staff("admin")
    code = totp_now()
    assert login(api_client, staff.email, otp=code).status_code == 200
    assert_error(login(api_client, staff.email, otp=code), 401, "otp_invalid")
    assert _tokens(db) == 1


def test_staff_without_enrolled_two_factor_is_refused(api_client, db, create_staff):
    staff = create_staff("support", enrolled=False)
    import pyotp

    assert_error(login(api_client, staff.email, otp=pyotp.TOTP(TOTP_SECRET).now()), 401, "otp_not_enrolled")
    assert _tokens(db) == 0
