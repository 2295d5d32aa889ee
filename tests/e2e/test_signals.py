"""In a real browser: a customer subscribes from the marketplace (confirm step), a signal published by
an analyst arrives live on My signals (toast and row, no reload), and they execute it from its chart
page with a preview."""

import re

import pytest
from playwright.sync_api import expect

from tests.api.order_helpers import pin_prices
from tests.conftest import PASSWORD, totp_now
from tests.signals.conftest import make_plan, make_provider
from tests.signals.test_publish_delivery import signal_data
from tests.trading_helpers import fund, market, pairs  # noqa: F401 - fixtures
from tradeapp.extensions import db
from tradeapp.services.signals import publishing

pytestmark = pytest.mark.e2e
EMAIL = "sig@example.com"


def _login(page, email):
    page.goto("/auth/login")
    page.fill("[name=email]", email)
    page.fill("[name=password]", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(re.compile(r"/dashboard$"))


def _history(pair) -> None:
    """200 hourly bars up to now around 50,000, so the signal's chart has candles under its lines."""
    import time
    from decimal import Decimal

    from tradeapp.services.trading import candles

    now = int(time.time()) // 3600 * 3600 * 1000
    bars = []
    for i in range(200):
        mid = Decimal(48500) + Decimal((i * 37) % 300) * 5 + Decimal(i) * 5
        bars.append(
            {
                "timestamp": now - (199 - i) * 3_600_000,
                "open": mid,
                "high": mid + 120,
                "low": mid - 130,
                "close": mid + 40,
                "volume": 3,
            }
        )
    candles.store(pair.id, "1h", bars)
    db.session.commit()


@pytest.fixture()
def world(create_user, create_staff, pairs, market):  # noqa: F811
    pin_prices(market)
    user = create_user(email=EMAIL, username="sig", first_name="Sig")
    fund(user, "USD", "20000")
    provider = make_provider("House Research Desk")
    make_plan(provider, [pairs["BTC/USD"], pairs["ETH/USD"]], name="Crypto Pro", price="49.00", trial=0)
    analyst = create_staff(role="analyst", email="ana@staff.example.com")
    _history(pairs["BTC/USD"])
    ids = {"provider": provider.id, "analyst": analyst.id}
    db.session.rollback()  # on SQLite a transaction left open holds the lock the server needs
    return ids


def test_subscribe_receive_live_and_execute(page, world):
    _login(page, EMAIL)
    page.get_by_role("link", name="Signals", exact=True).first.click()
    page.wait_for_url(re.compile(r"/signals/$"))
    expect(page.locator("#signal-list")).to_contain_text("No subscriptions yet")
    page.shot("empty")

    page.get_by_role("link", name="Browse the marketplace").click()
    expect(page.locator(".provider-card")).to_contain_text("House Research Desk")
    page.shot("marketplace")
    page.get_by_role("link", name="Subscribe").click()
    expect(page.locator("#subscribe-form")).to_contain_text("49.00 USD")
    page.shot("confirm")
    page.get_by_role("button", name=re.compile("Pay 49.00 USD")).click()
    expect(page.locator("#subscribe-form")).to_contain_text("Subscribed to Crypto Pro")
    expect(page.locator("#toasts")).to_contain_text("Subscribed to Crypto Pro")

    page.goto("/signals/")
    expect(page.locator("#signal-list")).to_contain_text("No signals yet")
    # (expect polls without eval; wait_for_function with a string polls through eval, which the CSP refuses)
    expect(page.locator("html")).to_have_attribute("data-live", "1")
    # the analyst publishes: the fan-out runs inline and emits to the customer's room
    from tradeapp.models import User

    analyst = db.session.get(User, world["analyst"])
    provider = type("P", (), {"id": world["provider"]})
    signal = publishing.publish(analyst, signal_data(provider, entry_price="50010"))
    signal_id = signal.id
    db.session.rollback()
    expect(page.locator(f"#signal-{signal_id}")).to_contain_text("BTC/USD")
    expect(page.locator("#toasts")).to_contain_text("New signal: BUY BTC/USD")
    page.shot("arrived")

    page.locator(f"#signal-{signal_id} a").click()
    page.wait_for_url(re.compile(rf"/signals/{signal_id}$"))
    expect(page.locator("#signal-chart canvas").first).to_be_attached()
    page.fill("#execute-panel [name=quantity]", "0.1")
    expect(page.locator("#execute-preview")).to_contain_text("Market buy")
    page.shot("preview")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Buy BTC").click()
    expect(page.locator("#execute-panel")).to_contain_text("executed")
    expect(page.locator("#toasts")).to_contain_text("Market buy order")
    page.shot("executed")

    page.set_viewport_size({"width": 390, "height": 844})
    for url, name in (
        (f"/signals/{signal_id}", "signal-390"),
        ("/signals/", "list-390"),
        ("/signals/marketplace", "marketplace-390"),
        ("/signals/subscriptions", "subscriptions-390"),
    ):
        page.goto(url)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{url} scrolls sideways by {overflow}px at 390 px"
        page.shot(name)


def test_analyst_publishes_with_a_live_preview(page, world):
    _login_staff(page, "ana@staff.example.com")
    page.locator(".sidebar").get_by_role("link", name=re.compile(r"^Publish")).click()
    page.wait_for_url(re.compile(r"/staff/signals/publish$"))
    page.fill("[name=entry_price]", "50000")
    page.fill("[name=stop_loss]", "51000")
    page.fill("[name=confidence]", "70")
    expect(page.locator("#publish-preview")).to_contain_text("must be below the entry")
    page.fill("[name=stop_loss]", "49000")
    page.fill("[name=take_profit]", "53000")
    expect(page.locator("#publish-preview")).to_contain_text("1 : 3.00")
    expect(page.locator("#publish-preview")).to_contain_text("Crypto Pro: 0 of 10 today")
    page.shot("preview")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#publish-form")).to_contain_text("published")
    expect(page.locator("#recent-signals")).to_contain_text("BUY BTC/USD")
    page.shot("published")
    page.get_by_role("link", name="Outcomes", exact=True).click()
    expect(page.locator("body")).to_contain_text("Track records")
    page.shot("outcomes")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/staff/signals/publish")
    page.shot("publish-390")


def _login_staff(page, email):
    page.goto("/auth/login")
    page.fill("[name=email]", email)
    page.fill("[name=password]", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(re.compile(r"/staff/2fa"))
    page.fill("[name=otp]", totp_now())
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r"/staff/$"))
