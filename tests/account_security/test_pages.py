"""The security pages: two-factor set-up with codes shown once, safeguards, devices, the address book."""

import json
import re

from sqlalchemy import select

from tests.account_security.helpers import code_at
from tests.conftest import csrf_token
from tests.web.test_auth_pages import HTMX
from tradeapp.extensions import db
from tradeapp.models import User, UserSession, WithdrawalAddress
from tradeapp.services.account_security import settings, twofactor

PAGE = "/account/security"


def toast_of(response) -> str:
    return json.loads(response.headers["HX-Trigger-After-Settle"])["toast"]["message"]


def test_the_security_page_offers_two_factor_safeguards_and_devices(logged_in_client):
    html = logged_in_client.get(PAGE).get_data(as_text=True)
    assert "Set up two-factor" in html and "Withdrawal safeguards" in html and "Signed-in devices" in html
    assert "this device" in html and "Manage addresses" in html
    assert "Two-factor, devices and safeguards" in logged_in_client.get("/account/").get_data(as_text=True)


def test_enrolment_on_the_page_shows_the_qr_then_the_codes_once(logged_in_client, user):
    token = csrf_token(logged_in_client, PAGE)
    r = logged_in_client.post(f"{PAGE}/2fa/start", data={"csrf_token": token}, headers=HTMX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<svg" in html and 'id="totp-secret"' in html
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', html).group(1)
    r = logged_in_client.post(f"{PAGE}/2fa/confirm", data={"csrf_token": token, "otp": "000000"}, headers=HTMX)
    assert r.status_code == 422 and "not valid" in r.get_data(as_text=True)
    r = logged_in_client.post(f"{PAGE}/2fa/confirm", data={"csrf_token": token, "otp": code_at(secret)}, headers=HTMX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Save your recovery codes" in toast_of(r)
    codes = re.findall(r"<li>([a-z2-9]{5}-[a-z2-9]{5})</li>", html)
    assert len(codes) == 10
    again = logged_in_client.get(PAGE).get_data(as_text=True)
    assert not any(c in again for c in codes) and "10 recovery codes left" in again  # shown once
    db.session.expire_all()
    assert twofactor.two_factor_enabled(db.session.get(User, user.id))
    # turning it off with a recovery code
    r = logged_in_client.post(f"{PAGE}/2fa/disable", data={"csrf_token": token, "otp": codes[0]}, headers=HTMX)
    assert r.status_code == 200 and "off" in toast_of(r)


def test_safeguards_are_saved_and_refused_inline(logged_in_client, user):
    token = csrf_token(logged_in_client, PAGE)
    data = {"csrf_token": token, "whitelist_only": "y", "anti_phishing_phrase": "green kettle"}
    r = logged_in_client.post(f"{PAGE}/settings", data=data, headers=HTMX)  # confirmation unticked: needs 2FA
    assert r.status_code == 422 and "Turn on two-factor authentication first" in r.get_data(as_text=True)
    data["withdrawal_confirmation"] = "y"
    r = logged_in_client.post(f"{PAGE}/settings", data=data, headers=HTMX)
    assert r.status_code == 200 and toast_of(r) == "Your security settings were saved."
    current = settings.of(user.id)
    assert current.whitelist_only and current.withdrawal_confirmation and current.anti_phishing_phrase == "green kettle"


def test_the_address_book_page(logged_in_client, user):
    html = logged_in_client.get("/account/withdrawal-addresses").get_data(as_text=True)
    assert "No saved addresses" in html
    token = csrf_token(logged_in_client, "/account/withdrawal-addresses")
    data = {
        "csrf_token": token,
        "label": "Main bank",
        "currency": "USD",
        "destination_type": "bank_account",
        "iban": "GB82 WEST 1234 5698 7654 32",
        "account_holder": "Alice Liddell",
        "network": "bitcoin",
    }
    r = logged_in_client.post("/account/withdrawal-addresses", data={**data, "iban": "bad"}, headers=HTMX)
    assert r.status_code == 422 and "valid IBAN" in r.get_data(as_text=True)
    r = logged_in_client.post("/account/withdrawal-addresses", data=data, headers=HTMX)
    assert r.status_code == 200 and "cooling-off" in toast_of(r)
    assert "usable" in r.get_data(as_text=True)
    row = db.session.scalar(select(WithdrawalAddress))
    r = logged_in_client.post(
        f"/account/withdrawal-addresses/{row.id}/revoke", data={"csrf_token": token}, headers=HTMX
    )
    assert r.status_code == 200 and "revoked" in r.get_data(as_text=True)


def test_the_withdrawal_form_asks_for_a_code_with_two_factor(logged_in_client, user):
    assert 'name="otp"' not in logged_in_client.get("/withdrawals/").get_data(as_text=True)
    [mine] = db.session.scalars(select(UserSession)).all()
    secret = twofactor.start_enrolment(user)
    twofactor.confirm_enrolment(user, code_at(secret, -1), keep_session=mine.sid)
    html = logged_in_client.get("/withdrawals/").get_data(as_text=True)
    assert 'name="otp"' in html and "every withdrawal needs a fresh one" in html


def test_enabling_two_factor_signs_other_devices_out(logged_in_client, user):
    secret = twofactor.start_enrolment(user)
    twofactor.confirm_enrolment(user, code_at(secret, -1), keep_session=None)
    r = logged_in_client.get("/dashboard")
    assert r.status_code == 302 and r.headers["Location"] == "/auth/login"
