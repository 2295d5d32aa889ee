"""In a real browser: a customer opens a lead trader's page (chart, preview), follows, then pauses in My copies."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.copy_trading.helpers import buy, make_trader
from tests.trading_helpers import fund, market, pairs  # noqa: F401 - fixtures
from tradeapp.extensions import db

pytestmark = pytest.mark.e2e


def test_follow_from_the_trader_page_and_pause(page, create_user, market, pairs):  # noqa: F811
    market.set("BTC/USD", "50000", "50010", levels=10, size="50", step="10")
    lead = make_trader(create_user)
    buy(lead, "1")
    from tests.copy_trading.helpers import trader_row
    from tradeapp.services.copy_trading import stats

    trader_id = trader_row(lead).id
    stats.refresh(trader_id)
    user = create_user(email="eve@example.com", username="eve")
    fund(user, "USD", "10000")
    db.session.rollback()

    page.goto("/auth/login")
    page.fill("[name=email]", "eve@example.com")
    page.fill("[name=password]", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(re.compile(r"/dashboard$"))

    page.goto(f"/copy/traders/{trader_id}")
    expect(page.locator("[data-copy-chart] canvas").first).to_be_visible()
    page.fill("[name=copy_percentage]", "30")
    expect(page.locator(".copy-preview")).to_contain_text("3,000.00 USD")
    expect(page.locator(".copy-preview")).to_contain_text("would have been copied as")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#copy-follow button[type=submit]")
    page.wait_for_url(re.compile(r"/copy/mine$"))
    card = page.locator(".copy-sub").first
    expect(card).to_contain_text("Lead Capital")
    expect(card.locator(".badge")).to_have_text("active")
    card.locator("button", has_text="Pause").click()
    expect(page.locator(".copy-sub .badge").first).to_have_text("paused")
    expect(page.locator("#toasts")).to_contain_text("Paused")
