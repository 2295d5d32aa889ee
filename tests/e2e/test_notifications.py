"""In a real browser: the header bell counts a live notification, shows a toast, opens its dropdown,
and the notifications page marks read — on a desktop and on a phone."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tradeapp.extensions import db
from tradeapp.services import notifications as notes

pytestmark = pytest.mark.e2e


def _release():
    """End this thread's transaction: on SQLite every transaction holds the write lock the server needs."""
    db.session.rollback()


def _login(page, email):
    page.goto("/auth/login")
    page.fill("[name=email]", email)
    page.fill("[name=password]", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(re.compile(r"/dashboard$"))


@pytest.mark.parametrize("width", [1400, 390])
def test_the_live_bell_toast_dropdown_and_page(page, create_user, width):
    user = create_user(email=f"bell{width}@example.com", username=f"bell{width}")
    user_id = user.id
    notes.notify(user_id, notes.KYC_APPROVED, "Your identity is verified", "Withdrawals are open.", link="/kyc/")
    _release()
    page.set_viewport_size({"width": width, "height": 900})
    _login(page, f"bell{width}@example.com")
    count = page.locator("[data-notification-count]")
    expect(count).to_have_text("1")
    expect(page.locator("html[data-live='1']")).to_have_count(1)  # the socket is connected

    notes.notify(user_id, notes.DEPOSIT_CREDITED, "Deposit credited", "250.00 USD is in your wallet.", link="/wallets/")
    _release()
    expect(count).to_have_text("2")
    expect(page.locator(".toast", has_text="Deposit credited")).to_be_visible()
    page.shot("live-toast")

    page.locator("[data-bell-toggle]").click()
    menu = page.locator("#bell-menu")
    expect(menu).to_be_visible()
    expect(menu.locator(".bell-item.unread")).to_have_count(2)
    expect(menu.locator(".bell-item").first).to_contain_text("Deposit credited")
    page.shot("dropdown")
    width_now = page.evaluate("document.documentElement.scrollWidth")
    assert width_now <= width, f"the page scrolls sideways ({width_now}px)"
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()

    page.locator("[data-bell-toggle]").click()
    menu.get_by_role("button", name="Mark all read").click()
    expect(page.locator(".toast", has_text="2 notifications marked as read.")).to_be_visible()
    expect(count).to_be_hidden()
    expect(menu.locator(".bell-item.unread")).to_have_count(0)

    notes.notify(user_id, notes.WITHDRAWAL_APPROVED, "Withdrawal approved", "100.00 USD is being sent.")
    _release()
    expect(count).to_have_text("1")
    page.goto("/notifications/")
    expect(page.locator(".notification")).to_have_count(3)
    page.shot("page")
    page.locator(".notification.unread").get_by_role("button", name="Mark read").click()
    expect(page.locator(".notification.unread")).to_have_count(0)
    expect(count).to_be_hidden()
    page.check("input[name=unread]")
    expect(page.locator(".empty-state")).to_contain_text("Nothing matches these filters")
    page.shot("filtered")
    width_now = page.evaluate("document.documentElement.scrollWidth")
    assert width_now <= width, f"the page scrolls sideways ({width_now}px)"

    page.goto("/account/")
    prefs = page.locator("#notification-preferences")
    prefs.locator("input[name='email:deposit_credited']").uncheck()
    prefs.get_by_role("button", name="Save notification settings").click()
    expect(page.locator(".toast", has_text="Your notification settings were saved.")).to_be_visible()
    page.shot("preferences")
    width_now = page.evaluate("document.documentElement.scrollWidth")
    assert width_now <= width, f"the page scrolls sideways ({width_now}px)"
    _release()
    assert {p["kind"]: p for p in notes.preferences(user_id)}["deposit_credited"]["email"] is False
    _release()
