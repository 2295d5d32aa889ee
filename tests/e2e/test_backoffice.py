"""In a real browser, at 1400 and 390 px: a queue decision answers with a toast, the history shows it,
a freeze asks first and answers with a toast, and the phone menu opens the staff sidebar."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, totp_now
from tradeapp.extensions import db
from tradeapp.services import deposits

pytestmark = pytest.mark.e2e


def _staff_login(page, email):
    page.goto("/auth/login")
    page.fill("[name=email]", email)
    page.fill("[name=password]", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(re.compile(r"/staff/2fa"))
    page.fill("[name=otp]", totp_now())
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r"/staff/$"))


def _fits(page):
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{page.url}: {scroll} px wide at {inner} px"


@pytest.mark.parametrize("width", [1400, 390])
def test_confirm_a_deposit_then_find_it_in_the_history(page, create_user, create_staff, width):
    page.set_viewport_size({"width": width, "height": 900})
    alice = create_user(email="alice@example.com", username="alice")
    finance = create_staff(role="finance", email=f"fin{width}@staff.example.com")
    deposit_id = deposits.create_bank_deposit(alice, "USD", "1250.5").id
    email = finance.email
    db.session.rollback()  # read everything first: on SQLite an open transaction holds the lock the server needs
    _staff_login(page, email)
    page.shot("dashboard")
    _fits(page)

    page.goto("/staff/deposits/")
    row = page.locator(f"#deposit-row-{deposit_id}")
    row.get_by_role("button", name="Confirm").click()
    expect(page.locator("#toasts .toast-success", has_text=f"Deposit #{deposit_id} confirmed")).to_be_visible()
    expect(row).to_contain_text("1,250.50 USD credited")
    page.shot("confirmed")

    page.goto("/staff/history/deposits/")
    expect(page.locator("#history-results")).to_contain_text("alice@example.com")
    expect(page.locator(".totals-strip")).to_contain_text("1,250.50")
    page.fill("[name=user]", "nobody-here")
    expect(page.locator("#history-results")).to_contain_text("Nothing matches")
    page.shot("history-filtered")
    _fits(page)


@pytest.mark.parametrize("width", [1400, 390])
def test_freeze_asks_first_and_answers_with_a_toast(page, create_user, create_staff, width):
    page.set_viewport_size({"width": width, "height": 900})
    alice = create_user(email="alice@example.com", username="alice")
    support = create_staff(role="support", email=f"sup{width}@staff.example.com")
    alice_id, email = alice.id, support.email
    db.session.rollback()  # read everything first: on SQLite an open transaction holds the lock the server needs
    _staff_login(page, email)
    if width == 390:
        # the phone menu button folds the sidebar open
        nav_link = page.locator(".sidebar a", has_text="Users")
        expect(nav_link).to_be_hidden()
        page.get_by_role("button", name="Menu").click()
        expect(nav_link).to_be_visible()
        page.shot("menu-open")
        nav_link.click()
        page.wait_for_url(re.compile(r"/staff/users/"))

    page.goto(f"/staff/users/{alice_id}")
    page.shot("user-360")
    _fits(page)
    card = page.locator("#account-actions-card")
    card.locator("summary", has_text="Freeze account").click()
    card.locator("textarea[name=reason]").first.fill("Chargeback under review")
    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    card.get_by_role("button", name="Freeze account").click()
    expect(page.locator("#toasts .toast-success", has_text="is frozen")).to_be_visible()
    expect(page.locator("#account-actions-card .badge", has_text="Frozen")).to_be_visible()
    assert dialogs and "Freeze alice@example.com?" in dialogs[0]
    # the audit trail refreshed itself
    expect(page.locator("#user-audit-card")).to_contain_text("user.frozen")
    page.shot("frozen")
    _fits(page)
