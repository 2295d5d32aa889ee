"""The staff second factor: enrolment with a QR code, the code check, replay and rate of failure."""

import re

import pyotp
import pytest
from sqlalchemy import select

from tests.conftest import TOTP_SECRET, csrf_token, totp_now, web_login
from tradeapp.models import AuditLog, User


def _login(client, staff):
    r = web_login(client, staff.email)
    assert r.status_code in (302, 303)
    return r


def _post_otp(client, code, next_url=None):
    url = "/staff/2fa" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"otp": code, "csrf_token": csrf_token(client, url)})


def _actions(db, user):
    rows = db.session.scalars(select(AuditLog).where(AuditLog.target_id == str(user.id)).order_by(AuditLog.id))
    return [row.action for row in rows]


def test_password_alone_leads_to_the_second_factor(client, create_staff):
    staff = create_staff("admin")
    r = _login(client, staff)
    assert "/staff/2fa" in r.headers.get("Location", "") + r.headers.get("HX-Redirect", "")
    r = client.get("/staff/")
    assert r.status_code == 302
    assert r.headers["Location"] == "/staff/2fa?next=/staff/"
    page = client.get("/staff/2fa").get_data(as_text=True)
    assert 'name="otp"' in page
    assert "<svg" not in page  # already enrolled: no QR code, no secret
    assert TOTP_SECRET not in page


def test_a_good_code_opens_the_console_and_is_audited(client, create_staff, db):
    staff = create_staff("admin")
    _login(client, staff)
    r = _post_otp(client, totp_now())
    assert r.status_code == 303
    assert r.headers["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200
    assert "staff.login" in _actions(db, staff)


def test_next_is_followed_only_when_it_is_local(client, create_staff):
    staff = create_staff("admin")
    _login(client, staff)
    r = _post_otp(client, totp_now(), next_url="/staff/users/")
    assert r.headers["Location"] == "/staff/users/"

    other = create_staff("support")
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/staff/")})
    _login(client, other)
    r = _post_otp(client, totp_now(), next_url="//evil.example.com/")
    assert r.headers["Location"] == "/staff/"


@pytest.mark.parametrize("code", ["000000", "12345", "abcdef", ""])
def test_a_wrong_code_is_refused(client, create_staff, db, code):
    staff = create_staff("admin")
    _login(client, staff)
    if code == "000000" and totp_now() == code:
        code = "111111"
    r = _post_otp(client, code)
    assert r.status_code == 422
    assert 'class="field-errors"' in r.get_data(as_text=True)
    assert client.get("/staff/").status_code == 302
    assert "staff.login" not in _actions(db, staff)


def test_a_code_cannot_be_used_twice(client, create_staff, db):
    staff = create_staff("admin")
    code = totp_now()
    _login(client, staff)
    assert _post_otp(client, code).status_code == 303
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/staff/")})

    _login(client, staff)
    r = _post_otp(client, code)
    assert r.status_code == 422
    assert "not valid" in r.get_data(as_text=True)
    assert client.get("/staff/").status_code == 302


def test_enrolment_shows_a_qr_code_and_a_secret_and_confirms_with_a_code(client, create_staff, db):
    staff = create_staff("compliance", enrolled=False)
    _login(client, staff)
    assert client.get("/staff/").headers["Location"].startswith("/staff/2fa")
    page = client.get("/staff/2fa").get_data(as_text=True)
    assert '<div class="qr"' in page and "<svg" in page
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    assert len(secret) >= 16
    # The secret stays the same across reloads until it is confirmed.
    assert secret in client.get("/staff/2fa").get_data(as_text=True)

    r = _post_otp(client, pyotp.TOTP(secret).now())
    assert r.status_code == 303
    db.session.expire_all()
    user = db.session.get(User, staff.id)
    assert user.totp_confirmed_at is not None
    assert user.totp_secret == secret
    assert [a for a in _actions(db, staff) if a.startswith("staff.")] == ["staff.2fa_enrolled", "staff.login"]
    assert client.get("/staff/").status_code == 200


def test_enrolment_with_a_wrong_code_keeps_the_account_unenrolled(client, create_staff, db):
    staff = create_staff("compliance", enrolled=False)
    _login(client, staff)
    page = client.get("/staff/2fa").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    wrong = pyotp.TOTP(secret).at(0)
    r = _post_otp(client, wrong)
    assert r.status_code == 422
    assert "<svg" in r.get_data(as_text=True)  # still enrolling
    db.session.expire_all()
    assert db.session.get(User, staff.id).totp_confirmed_at is None


def test_customers_cannot_use_the_second_factor_page(logged_in_client):
    assert logged_in_client.get("/staff/2fa").status_code == 403


def test_after_a_reset_the_live_session_must_enrol_again(staff_client_factory, create_staff, db):
    from tradeapp.services import staff as staff_service

    victim_client, victim = staff_client_factory("support")
    assert victim_client.get("/staff/").status_code == 200
    admin = create_staff("admin")
    staff_service.reset_two_factor(admin, db.session.get(User, victim.id))
    r = victim_client.get("/staff/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/staff/2fa")
    assert "<svg" in victim_client.get("/staff/2fa").get_data(as_text=True)
