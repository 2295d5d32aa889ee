"""Customer two-factor: enrolment with recovery codes (hashed, shown once), replay refused, recovery codes
good once, turning it off, API and web login asking for the code, staff reset with a reason."""

import re

import pytest
from sqlalchemy import select

from tests.account_security.helpers import code_at, enable_two_factor
from tests.conftest import PASSWORD, csrf_token, web_login
from tests.web.test_auth_pages import HTMX
from tradeapp.errors import AccountLocked, PermissionDenied, ValidationFailed
from tradeapp.extensions import db
from tradeapp.mail import outbox_messages
from tradeapp.models import AuditLog, Notification, RecoveryCode, User
from tradeapp.services.account_security import sessions, twofactor


def fresh(user) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def test_enrolment_gives_ten_recovery_codes_stored_only_as_hashes(db, user):
    secret, codes = enable_two_factor(user)
    assert twofactor.two_factor_enabled(fresh(user))
    assert (
        len(codes) == 10 and len(set(codes)) == 10 and all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in codes)
    )
    stored = db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)).all()
    assert len(stored) == 10 and not set(codes) & set(stored)
    assert all(len(h) == 64 for h in stored)
    [note] = db.session.scalars(select(Notification).where(Notification.kind == "security_changed")).all()
    assert note.title == "Two-factor authentication is on"
    assert any(m["subject"] == "Two-factor authentication is on" for m in outbox_messages())  # security: always mailed


def test_a_wrong_first_code_does_not_enable(db, user):
    twofactor.start_enrolment(user)
    with pytest.raises(ValidationFailed) as exc:
        twofactor.confirm_enrolment(user, "000000")
    assert exc.value.code == "otp_invalid"
    assert not twofactor.two_factor_enabled(fresh(user))


def test_a_code_replayed_inside_its_window_is_refused(db, user):
    secret, _ = enable_two_factor(user)
    code = code_at(secret)
    assert twofactor.verify(fresh(user), code) == "totp"
    with pytest.raises(ValidationFailed) as exc:
        twofactor.verify(fresh(user), code)  # same code, same 30 s window
    assert exc.value.code == "otp_invalid"
    with pytest.raises(ValidationFailed):
        twofactor.verify(fresh(user), code_at(secret, -1))  # an earlier step after a later one: also refused


def test_a_recovery_code_works_once(db, user):
    _, codes = enable_two_factor(user)
    assert twofactor.verify(fresh(user), codes[3].upper().replace("-", " ")) == "recovery"  # typed loosely
    with pytest.raises(ValidationFailed) as exc:
        twofactor.verify(fresh(user), codes[3])
    assert exc.value.code == "otp_invalid"
    assert twofactor.recovery_codes_left(fresh(user)) == 9
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "security.recovery_code_used")) is not None


def test_wrong_codes_lock_the_second_factor(app, db, user, monkeypatch):
    monkeypatch.setitem(app.config, "LOCKOUT_THRESHOLD", 3)
    enable_two_factor(user)
    for _ in range(3):
        with pytest.raises(ValidationFailed):
            twofactor.verify(fresh(user), "123456")
    with pytest.raises(AccountLocked):
        twofactor.verify(fresh(user), "654321")


def test_turning_off_needs_a_code_or_a_recovery_code(db, user):
    secret, codes = enable_two_factor(user)
    with pytest.raises(ValidationFailed):
        twofactor.disable(fresh(user), "")
    twofactor.disable(fresh(user), codes[0])
    u = fresh(user)
    assert not twofactor.two_factor_enabled(u) and u.totp_secret is None
    assert db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all() == []
    titles = [n.title for n in db.session.scalars(select(Notification).order_by(Notification.id))]
    assert titles[-1] == "Two-factor authentication is off"


def test_new_recovery_codes_replace_the_old(db, user):
    secret, old = enable_two_factor(user)
    new = twofactor.regenerate_codes(fresh(user), code_at(secret))
    assert not set(new) & set(old)
    with pytest.raises(ValidationFailed):
        twofactor.verify(fresh(user), old[0])
    assert twofactor.verify(fresh(user), new[0]) == "recovery"


# -- logins -------------------------------------------------------------------------------------------------


def test_api_login_asks_for_the_code(api_client, user):
    secret, codes = enable_two_factor(user)
    body = {"email": user.email, "password": PASSWORD}
    r = api_client.post("/api/v1/auth/login/", json=body)
    assert r.status_code == 401 and r.get_json()["code"] == "otp_required" and "otp" in r.get_json()["fields"]
    r = api_client.post("/api/v1/auth/login/", json={**body, "otp": "000000"})
    assert r.status_code == 401 and r.get_json()["code"] == "otp_invalid"
    r = api_client.post("/api/v1/auth/login/", json={**body, "otp": code_at(secret)})
    assert r.status_code == 200 and set(r.get_json()) == {"access", "refresh"}
    r = api_client.post("/api/v1/auth/login/", json={**body, "otp": codes[1]})
    assert r.status_code == 200


def test_web_login_asks_for_the_code_before_any_session(client, user):
    secret, codes = enable_two_factor(user)
    r = web_login(client, user.email)
    assert r.status_code in (302, 303) and r.headers["Location"].startswith("/auth/2fa")
    assert client.get("/dashboard").status_code == 302  # the password alone signed nobody in
    token = csrf_token(client, "/auth/2fa")
    r = client.post("/auth/2fa", data={"otp": "111111", "csrf_token": token}, headers=HTMX)
    assert r.status_code == 422 and "not valid" in r.get_data(as_text=True)
    r = client.post("/auth/2fa", data={"otp": code_at(secret), "csrf_token": token})
    assert r.status_code == 303 and r.headers["Location"] == "/dashboard"
    assert client.get("/dashboard").status_code == 200


def test_the_second_step_expires_and_needs_a_first_step(client, user, app, monkeypatch):
    enable_two_factor(user)
    r = client.get("/auth/2fa")
    assert r.status_code == 303 and r.headers["Location"].startswith("/auth/login")
    web_login(client, user.email)
    monkeypatch.setattr("tradeapp.blueprints.users.views.TWO_FACTOR_STEP_SECONDS", -1)
    assert client.get("/auth/2fa").headers["Location"].startswith("/auth/login")


def test_a_customer_without_two_factor_logs_in_with_the_password(client, user):
    r = web_login(client, user.email)
    assert r.headers["Location"] == "/dashboard"


# -- staff reset -------------------------------------------------------------------------------------------


def test_support_resets_a_customers_two_factor_with_a_reason(db, user, create_staff, create_user):
    enable_two_factor(user)
    api_session = sessions.start(fresh(user), "web", "s-1", "Firefox", "10.0.0.9")
    support = create_staff(role="support")
    with pytest.raises(ValidationFailed):
        twofactor.staff_reset(support, fresh(user), "ok")
    with pytest.raises(PermissionDenied):
        twofactor.staff_reset(create_staff(role="finance"), fresh(user), "Video call with passport, matched")
    twofactor.staff_reset(support, fresh(user), "Video call with passport, matched")
    assert not twofactor.two_factor_enabled(fresh(user))
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "security.2fa_reset_by_staff"))
    assert row.actor_id == support.id and row.target_id == str(user.id)
    assert row.after == {"reason": "Video call with passport, matched"}
    note = db.session.scalars(select(Notification).order_by(Notification.id.desc())).first()
    assert note.user_id == user.id and "reset by support" in note.title
    assert db.session.get(type(api_session), api_session.id).revoked_at is not None


def test_the_staff_card_shows_settings_and_resets(staff_client_factory, db, user):
    enable_two_factor(user)
    client, _ = staff_client_factory("support")
    html = client.get(f"/staff/users/{user.id}/security", headers=HTMX).get_data(as_text=True)
    assert "Account security" in html and "recovery codes left" in html and "2fa enabled" in html
    token = csrf_token(client, f"/staff/users/{user.id}")
    r = client.post(
        f"/staff/users/{user.id}/security/reset-2fa",
        data={"csrf_token": token, "reason": "Checked ID on a video call"},
        headers=HTMX,
    )
    assert r.status_code == 200 and "Two-factor was reset" in r.get_data(as_text=True)
    assert not twofactor.two_factor_enabled(fresh(user))


def test_staff_without_the_permission_cannot_reset(staff_client_factory, db, user):
    enable_two_factor(user)
    client, _ = staff_client_factory("finance")
    token = csrf_token(client, "/staff/")
    r = client.post(f"/staff/users/{user.id}/security/reset-2fa", data={"csrf_token": token, "reason": "whatever"})
    assert r.status_code == 403
    assert twofactor.two_factor_enabled(fresh(user))


# -- the API: turning it on and off from a mobile app ----------------------------------------------------


def test_api_turns_two_factor_on_with_recovery_codes_and_off_again(auth_api_client, user):
    start = auth_api_client.post("/api/v1/security/two-factor/")
    body = start.get_json()
    assert start.status_code == 200 and body["otpauth_url"].startswith("otpauth://totp/")
    assert f"secret={body['secret']}" in body["otpauth_url"]
    assert auth_api_client.post("/api/v1/security/two-factor/").get_json()["secret"] == body["secret"]  # same secret
    assert not twofactor.two_factor_enabled(fresh(user))

    wrong = auth_api_client.post("/api/v1/security/two-factor/confirm/", json={"otp": "000000"})
    assert wrong.status_code == 400 and wrong.get_json()["code"] == "otp_invalid"
    assert not twofactor.two_factor_enabled(fresh(user))
    short = auth_api_client.post("/api/v1/security/two-factor/confirm/", json={})
    assert short.status_code == 400 and "otp" in short.get_json()["fields"]

    confirmed = auth_api_client.post("/api/v1/security/two-factor/confirm/", json={"otp": code_at(body["secret"], -1)})
    codes = confirmed.get_json()["recovery_codes"]
    assert confirmed.status_code == 200 and len(codes) == 10
    assert twofactor.two_factor_enabled(fresh(user))
    security = auth_api_client.get("/api/v1/security/").get_json()  # this login stays signed in
    assert security["two_factor_enabled"] is True and security["recovery_codes_left"] == 10
    again = auth_api_client.post("/api/v1/security/two-factor/")
    assert again.status_code == 400 and again.get_json()["code"] == "already_enabled"

    renewed = auth_api_client.post("/api/v1/security/two-factor/recovery-codes/", json={"otp": code_at(body["secret"])})
    new_codes = renewed.get_json()["recovery_codes"]
    assert renewed.status_code == 200 and len(new_codes) == 10 and not set(new_codes) & set(codes)

    off = auth_api_client.post("/api/v1/security/two-factor/disable/", json={"otp": codes[0]})
    assert off.status_code == 400 and off.get_json()["code"] == "otp_invalid"  # the old codes stopped working
    off = auth_api_client.post("/api/v1/security/two-factor/disable/", json={"otp": new_codes[0]})
    assert off.status_code == 200 and off.get_json()["two_factor_enabled"] is False
    assert not twofactor.two_factor_enabled(fresh(user))
    gone = auth_api_client.post("/api/v1/security/two-factor/disable/", json={"otp": new_codes[1]})
    assert gone.status_code == 400 and gone.get_json()["code"] == "not_enabled"


def test_api_two_factor_needs_a_login_and_staff_use_the_console(app, api_client, create_staff):
    assert api_client.post("/api/v1/security/two-factor/").status_code == 401
    from tradeapp.services.tokens import issue_tokens

    api_client.token = issue_tokens(create_staff(role="support"))["access"]
    r = api_client.post("/api/v1/security/two-factor/")
    assert r.status_code == 403 and r.get_json()["code"] == "staff_account"
