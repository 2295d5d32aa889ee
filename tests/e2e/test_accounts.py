"""In a real browser: a customer registers, confirms the e-mail, logs out and in; staff pass TOTP."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.conftest import PASSWORD, totp_now
from tradeapp.extensions import db
from tradeapp.models import User
from tradeapp.templating import money

pytestmark = pytest.mark.e2e


def _release():
    """End this thread's transaction: on SQLite every transaction holds the write lock the server needs."""
    db.session.rollback()


def test_customer_registers_confirms_email_and_logs_back_in(page, app, live_server, monkeypatch):
    # The outbox page exists in embedded mode only; links in mail point at BASE_URL.
    monkeypatch.setitem(app.config, "EMBEDDED", True)
    monkeypatch.setitem(app.config, "BASE_URL", live_server)
    page.goto("/auth/register")
    page.shot("register-form")
    page.fill("[name=email]", "Nora@Example.com")
    page.fill("[name=username]", "nora")
    page.fill("[name=password]", PASSWORD)
    page.fill("[name=password_confirm]", PASSWORD)
    page.click("#register-form [type=submit]")

    page.wait_for_url(re.compile(r"/dashboard$"))
    expect(page.locator("h1")).to_contain_text("Welcome, nora")
    expect(page.locator(".stat", has_text="Email")).to_contain_text("Not confirmed")
    page.shot("registered")

    # Embedded mode keeps mail in the outbox; follow the confirmation link from there.
    page.goto("/dev/outbox")
    link = page.locator("a[href*='/auth/verify/']").first
    expect(link).to_be_visible()
    page.shot("outbox")
    link.click()

    page.wait_for_url(re.compile(r"/dashboard$"))
    expect(page.locator("body")).to_contain_text("your email address is confirmed")
    expect(page.locator(".stat", has_text="Email")).to_contain_text("Confirmed")
    page.shot("verified")
    user = db.session.scalar(select(User).where(User.email == "nora@example.com"))
    assert user is not None and user.email_verified_at is not None
    _release()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.locator("body")).to_contain_text("You have been logged out")
    page.shot("logged-out")

    page.goto("/auth/login")
    page.fill("[name=email]", "nora@example.com")
    page.fill("[name=password]", "wrong-password-123")
    page.click("#login-form [type=submit]")
    expect(page.locator("#login-form .alert-error:not(.hidden)")).to_be_visible()
    page.shot("login-refused")

    page.fill("[name=password]", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(re.compile(r"/dashboard$"))
    expect(page.locator("h1")).to_contain_text("Welcome, nora")
    page.shot("logged-in")


def test_staff_log_in_with_password_then_totp(page, create_staff):
    create_staff(role="admin", email="sam@staff.example.com", first_name="Sam")
    _release()

    page.goto("/staff/")
    page.wait_for_url(re.compile(r"/auth/login"))
    page.fill("[name=email]", "sam@staff.example.com")
    page.fill("[name=password]", PASSWORD)
    page.click("#login-form [type=submit]")

    page.wait_for_url(re.compile(r"/staff/2fa"))
    expect(page.locator("h1")).to_contain_text("Two-factor check")
    page.shot("two-factor")

    page.fill("[name=otp]", "000000" if totp_now() != "000000" else "111111")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("[name=otp]")).to_be_visible()  # a wrong code keeps us here
    assert "/staff/2fa" in page.url
    page.shot("two-factor-refused")

    page.fill("[name=otp]", totp_now())
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r"/staff/$"))
    expect(page.locator("h1")).to_contain_text("Dashboard")
    expect(page.locator("body")).to_contain_text("Good to see you, Sam")
    page.shot("staff-dashboard")


def test_home_page_shows_live_prices_from_the_feed(page, app):
    from playwright.sync_api import Error as PlaywrightError

    from tradeapp.market.runner import FeedRunner
    from tradeapp.services.seed import seed_pairs

    seed_pairs()
    db.session.commit()
    page.goto("/")
    btc = page.locator("[data-symbol='BTC-USD'] [data-price]")
    expect(btc).to_have_text("—")
    expect(page.locator("html[data-live='1']")).to_be_attached()  # the Socket.IO connection is up

    runner = FeedRunner(app, interval=1.0)
    # The page subscribes right after connecting; publish until its first quote lands.
    for _ in range(20):
        quote = runner.tick_once()["BTC/USD"]
        try:
            # Shown like every price on the site: the pair's decimals, thousands separators.
            expect(btc).to_have_text(money(quote["last"], places=2), timeout=1000)
            break
        except (AssertionError, PlaywrightError):
            continue
    else:
        pytest.fail("no live price reached the page")
    page.shot("live-prices")
