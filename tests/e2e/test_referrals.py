"""In a real browser: a friend opens a referral link, browses, signs up with the code filled in;
the referrer sees them, copies the link (toast) and filters the rewards table."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.conftest import PASSWORD
from tests.referrals.helpers import approve_kyc, setup_programme
from tradeapp.extensions import db
from tradeapp.models import User

pytestmark = pytest.mark.e2e


def _release():
    db.session.rollback()


def test_referral_link_to_signup_and_the_referral_page(page, browser, live_server, create_user):
    setup_programme()
    alice = create_user(email="alice@example.com", username="alice")
    code = alice.referral_code
    _release()

    # the friend opens the link, looks around, then signs up: the code is still there
    page.goto(f"/?ref={code}")
    page.goto("/auth/login")
    page.goto("/auth/register")
    expect(page.locator("[name=referral_code]")).to_have_value(code)
    page.fill("[name=email]", "fred@example.org")
    page.fill("[name=username]", "fred")
    page.fill("[name=password]", PASSWORD)
    page.fill("[name=password_confirm]", PASSWORD)
    page.click("#register-form [type=submit]")
    page.wait_for_url(re.compile(r"/dashboard$"))
    fred = db.session.scalar(select(User).where(User.username == "fred"))
    assert fred.referred_by_id == alice.id
    approve_kyc(fred)
    _release()

    other = browser.new_context(base_url=live_server, viewport={"width": 390, "height": 900})
    other.grant_permissions(["clipboard-read", "clipboard-write"])
    ref = other.new_page()
    ref.goto("/auth/login")
    ref.fill("[name=email]", "alice@example.com")
    ref.fill("[name=password]", PASSWORD)
    ref.click("#login-form [type=submit]")
    ref.wait_for_url(re.compile(r"/dashboard$"))
    ref.goto("/referrals/")
    expect(ref.locator("#referral-link")).to_have_value(re.compile(f"ref={code}$"))
    expect(ref.locator("img.referral-qr")).to_be_visible()
    expect(ref.locator("#referral-rewards")).to_contain_text("fred")
    ref.get_by_role("button", name="Copy").click()
    expect(ref.locator(".toast")).to_contain_text("Link copied")
    assert ref.evaluate("document.documentElement.scrollWidth") <= 390
    ref.select_option("#f-status", "paid")
    expect(ref.locator("#referral-rewards")).to_contain_text("No rewards match these filters")
    ref.screenshot(path="test-artifacts/referrals-390.png", full_page=True)
    other.close()
