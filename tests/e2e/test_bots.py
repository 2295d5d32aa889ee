"""In a real browser: a customer fills the bot form (inline checks), backtests it on stored candles with charts, saves and starts it."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.api.order_helpers import pin_prices
from tests.bots.conftest import history, store_history
from tests.conftest import PASSWORD
from tests.trading_helpers import market, pairs  # noqa: F401 - fixtures
from tradeapp.extensions import db
from tradeapp.models import TradingBot

pytestmark = pytest.mark.e2e
EMAIL = "bea@example.com"


@pytest.fixture()
def builder(create_user, pairs, market):  # noqa: F811
    pin_prices(market)
    store_history(db, pairs["BTC/USD"], history(800))
    create_user(email=EMAIL, username="bea", first_name="Bea")
    pair_id = pairs["BTC/USD"].id
    db.session.rollback()  # SQLite: a transaction left open here would hold the lock the server needs
    return pair_id


def _login(page):
    page.goto("/auth/login")
    page.fill("[name=email]", EMAIL)
    page.fill("[name=password]", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(re.compile(r"/dashboard$"))


def test_build_backtest_save_and_start_a_bot(page, builder):
    _login(page)
    page.goto("/bots/")
    expect(page.locator(".empty-state")).to_contain_text("No bots yet")
    page.click("text=Create your first bot")
    page.fill("#name", "Dip buyer")
    page.select_option("#strategy", "rsi")
    expect(page.locator("#param_rsi_period")).to_have_value("14")
    # inline check: a bad parameter is pointed at before anything is saved
    page.fill("#param_overbought_level", "20")
    page.locator("#param_overbought_level").blur()
    expect(page.locator("#field-param_overbought_level .field-errors")).to_contain_text("above the oversold level")
    page.fill("#param_overbought_level", "65")
    page.locator("#param_overbought_level").blur()
    expect(page.locator("#errors-param_overbought_level")).to_be_empty()
    page.check(f"input[name=trading_pairs][value='{builder}']")
    page.fill("#max_position_size", "1000")
    page.fill("#bt_start", "2017-07-01")
    page.fill("#bt_end", "2017-08-31")
    page.click("button:has-text('Backtest')")
    expect(page.locator("[data-backtest] .metrics-grid")).to_contain_text(re.compile("total return", re.I))
    expect(page.locator("[data-price-chart] canvas").first).to_be_visible()
    expect(page.locator("[data-equity-chart] canvas").first).to_be_visible()
    page.shot("backtest")
    page.click("#bot-submit")
    page.wait_for_url(re.compile(r"/bots/\d+$"))
    expect(page.locator("#bot-state")).to_contain_text("stopped")
    page.click("button:has-text('Start bot')")
    expect(page.locator("#bot-state .badge-green")).to_have_text("running")
    expect(page.locator("#toasts")).to_contain_text("Bot started")
    page.shot("running")
    db.session.rollback()
    bot = db.session.scalar(select(TradingBot))
    assert bot.is_active and bot.parameters["overbought_level"] == 65


def test_bot_pages_on_a_phone(page, builder):
    page.set_viewport_size({"width": 390, "height": 800})
    _login(page)
    page.goto("/bots/new")
    expect(page.locator("#bot-form")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.shot("form-phone")
