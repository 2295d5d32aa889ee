"""In a real browser: a customer turns two-factor on (QR code, confirming code, recovery codes shown once),
logs out and back in with a code, and sees the devices and the address book — on a desktop and a phone."""

import re

import pytest
from playwright.sync_api import expect

from tests.account_security.helpers import code_at
from tests.conftest import PASSWORD
from tradeapp.extensions import db

pytestmark = pytest.mark.e2e


def _release():
    """End this thread's transaction: on SQLite every transaction holds the write lock the server needs."""
    db.session.rollback()


@pytest.mark.parametrize("width", [1400, 390])
def test_enrol_two_factor_and_log_in_with_it(page, create_user, width):
    email = f"secure{width}@example.com"
    create_user(email=email, username=f"secure{width}")
    _release()
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/auth/login")
    page.fill("[name=email]", email)
    page.fill("[name=password]", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(re.compile(r"/dashboard$"))

    page.goto("/account/security")
    page.get_by_role("button", name="Set up two-factor").click()
    expect(page.locator(".qr svg")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text().strip()
    page.shot("enrol-qr")
    page.locator("#two-factor [name=otp]").fill(code_at(secret, -1))
    page.get_by_role("button", name="Confirm and turn on").click()
    expect(page.locator("[data-recovery-codes] li")).to_have_count(10)
    recovery = page.locator("[data-recovery-codes] li").first.inner_text().strip()
    expect(page.locator(".toast", has_text="Save your recovery codes")).to_be_visible()
    page.shot("recovery-codes")
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page scrolls sideways ({scroll}px)"

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/$"))
    page.goto("/auth/login")
    page.fill("[name=email]", email)
    page.fill("[name=password]", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(re.compile(r"/auth/2fa"))
    page.fill("#two-factor-form [name=otp]", "000000")
    page.click("#two-factor-form [type=submit]")
    expect(page.locator("#two-factor-form .field-errors")).to_contain_text("not valid")
    page.shot("login-code-wrong")
    page.fill("#two-factor-form [name=otp]", code_at(secret, 1))
    page.click("#two-factor-form [type=submit]")
    page.wait_for_url(re.compile(r"/dashboard$"))

    page.goto("/account/security")
    expect(page.locator("#two-factor .badge-green")).to_have_text("on")
    expect(page.locator("#sessions")).to_contain_text("this device")
    page.shot("security-page")
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page scrolls sideways ({scroll}px)"

    page.goto("/account/withdrawal-addresses")
    page.fill("#address-form [name=label]", "Main bank")
    page.fill("#address-form [name=iban]", "GB82 WEST 1234 5698 7654 32")
    page.fill("#address-form [name=account_holder]", "Secure Person")
    # the codes of this 30-second window are spent (enrolment, login): a recovery code stands in
    page.fill("#address-form [name=otp]", recovery)
    page.click("#address-form [type=submit]")
    expect(page.locator(".toast", has_text="cooling-off period ends")).to_be_visible()
    expect(page.locator("#addresses .badge-amber")).to_contain_text("usable")
    page.shot("addresses")
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page scrolls sideways ({scroll}px)"
