"""In a real browser: a customer previews and places orders, cancels one, watches live prices, P&L and the book.

Prices come from a hand-set market (BTC/USD bid 50000.00 / ask 50010.00, see ``tests.api.order_helpers``);
"live" ticks and books are emitted through tradeapp.realtime as the feed would.
"""

import re
import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.api.order_helpers import pin_prices
from tests.conftest import PASSWORD
from tests.trading_helpers import fund, market, pairs  # noqa: F401 - fixtures
from tradeapp import realtime
from tradeapp.extensions import db
from tradeapp.models import User
from tradeapp.services.trading import orders

pytestmark = pytest.mark.e2e
EMAIL = "tess@example.com"


def _release():
    """End this thread's transaction: on SQLite every transaction holds the write lock the server needs."""
    db.session.rollback()


def _login(page, email):
    page.goto("/auth/login")
    page.fill("[name=email]", email)
    page.fill("[name=password]", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(re.compile(r"/dashboard$"))


def _emit_until(page, locator, pattern, emit, attempts=80):
    """Emit until the page shows it: the browser joins the ticker room just after it connects."""
    for _ in range(attempts):
        emit()
        if re.search(pattern, locator.inner_text() or ""):
            return
        page.wait_for_timeout(250)
    expect(locator).to_have_text(re.compile(pattern))


def _tick(last, bid, ask):
    return {
        "symbol": "BTC/USD",
        "last": last,
        "bid": bid,
        "ask": ask,
        "change_24h": "2.50",
        "high_24h": "52000.00",
        "low_24h": "49000.00",
        "volume": "1234.5",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


@pytest.fixture()
def trader(create_user, pairs, market):  # noqa: F811
    pin_prices(market)
    user = create_user(email=EMAIL, username="tess", first_name="Tess")
    fund(user, "USD", "1000")
    _release()  # and read nothing from the database here afterwards: on SQLite a read takes the write lock
    return user


def test_customer_trades_from_the_trade_page(page, trader):
    _login(page, EMAIL)
    page.get_by_role("link", name="Trade", exact=True).first.click()
    page.wait_for_url(re.compile(r"/trade/BTC-USD"))
    expect(page.locator(".market-title h1")).to_contain_text("BTC/USD")
    expect(page.locator("#orderbook [data-book-side=asks] .book-row")).to_have_count(5)
    expect(page.locator("#positions")).to_contain_text("No positions yet")
    expect(page.locator("#chart canvas").first).to_be_attached()  # lightweight-charts drew its panes
    page.shot("empty")

    # The summary follows the amount as it is typed.
    form = page.locator("#order-form")
    form.locator("[name=quantity]").fill("0.01")
    expect(page.locator("#order-preview")).to_contain_text("501.11 USD")
    expect(page.locator("#order-preview")).to_contain_text("Fee (0.2%)")
    page.shot("preview")

    # Market buy: the form swaps itself with a notice; the position appears with its P&L.
    form.locator("button[type=submit]").click()
    expect(page.locator("#order-form .order-notice")).to_contain_text("Bought 0.01 BTC at 50,010.00 USD.")
    expect(page.locator("#order-form [name=quantity]")).to_have_value("")
    expect(page.locator("#order-balances")).to_contain_text("498.89")
    row = page.locator("#positions tr[data-position='BTC-USD']")
    expect(row).to_contain_text("50,010.00")
    expect(row.locator("[data-pos-pnl]")).to_contain_text("-0.10")
    page.shot("bought")

    # A tick moves the header, the pair list and the position's P&L without a reload.
    _emit_until(
        page,
        page.locator("[data-market-last]"),
        r"^51,000\.00$",
        lambda: realtime.emit_ticker("BTC/USD", _tick("51000.00", "50990.00", "51000.00")),
    )
    expect(page.locator(".pair-row.active [data-last]")).to_have_text("51,000.00")
    expect(row.locator("[data-pos-pnl]")).to_contain_text("+9.80")  # 0.01 × (50990 − 50010)
    expect(page.locator("[data-market-change]")).to_have_text("+2.50%")

    # An order book event redraws the book.
    book = {
        "symbol": "BTC/USD",
        "bids": [["50990.00", "2.5"], ["50980.00", "1"]],
        "asks": [["51000.00", "0.75"], ["51010.00", "3"]],
        "timestamp": None,
    }
    _emit_until(
        page,
        page.locator("#orderbook [data-book-side=asks]"),
        r"51,010\.00",
        lambda: realtime.emit_orderbook("BTC/USD", book),
    )
    expect(page.locator("#orderbook [data-book-side=bids] .book-row")).to_have_count(2)
    expect(page.locator("[data-book-spread]")).to_have_text("10.00")
    page.shot("live")

    # A book price goes into a limit order; too small an amount is refused inline.
    page.locator("#orderbook [data-book-side=bids] .book-row").last.click()
    expect(form.locator("input[name=order_type][value=limit]")).to_be_checked()
    expect(form.locator("[name=price]")).to_have_value("50980.00")
    form.locator("[name=price]").fill("45000")
    form.locator("[name=quantity]").fill("0.00001")
    form.locator("button[type=submit]").click()
    expect(page.locator("#field-quantity.has-error .field-errors")).to_be_visible()
    page.shot("error")

    form = page.locator("#order-form")
    form.locator("[name=quantity]").fill("0.01")
    form.locator("button[type=submit]").click()
    expect(page.locator("#order-form .order-notice")).to_contain_text("Limit order placed")
    expect(page.locator("[data-count-of=open-orders]")).to_have_text("1")

    # Open orders: cancel inline; the row swaps, the hold comes back.
    page.locator("label[for=tab-open]").click()
    order_row = page.locator("#open-orders tbody tr").first
    expect(order_row).to_contain_text("45,000.00")
    page.shot("open-orders")
    # Cancelling asks first; the answer is a toast, and the form forgets its "placed" notice.
    page.once("dialog", lambda dialog: dialog.accept())
    order_row.get_by_role("button", name=re.compile("Cancel")).click()
    expect(page.locator("#open-orders")).to_contain_text("No open orders")
    expect(page.locator("#toasts .toast-success", has_text="Order cancelled")).to_be_visible()
    expect(page.locator("#order-form .order-notice")).to_have_count(0)
    expect(page.locator("#order-balances")).to_contain_text("498.89")
    page.locator("label[for=tab-history]").click()
    expect(page.locator("#order-history")).to_contain_text("Cancelled by you.")
    page.shot("history")

    # An order placed elsewhere (the API, a bot) arrives over Socket.IO: the lists and balances refresh.
    user = db.session.scalar(select(User).where(User.email == EMAIL))
    orders.place_order(
        user, {"symbol": "BTC/USD", "side": "buy", "order_type": "limit", "quantity": "0.001", "price": "40000"}
    )
    _release()
    expect(page.locator("[data-count-of=open-orders]")).to_have_text("1")
    page.locator("label[for=tab-open]").click()
    expect(page.locator("#open-orders")).to_contain_text("40,000.00")
    expect(page.locator("#order-balances")).to_contain_text("458.81")  # 40.00 + 0.08 fee held

    # The dashboard's portfolio lists the position.
    page.goto("/dashboard")
    expect(page.locator("#portfolio tr[data-position='BTC-USD']")).to_contain_text("0.01 BTC")
    page.shot("dashboard")


def test_trade_page_on_a_phone(page, trader):
    page.set_viewport_size({"width": 390, "height": 844})
    _login(page, EMAIL)
    page.goto("/trade/ETH-USD")
    expect(page.locator(".market-title h1")).to_contain_text("ETH/USD")
    # Search filters the market list as you type.
    page.fill("[data-pair-search]", "btc")
    expect(page.locator(".pair-row[data-pair='ETH-USD']")).to_be_hidden()
    expect(page.locator(".pair-row[data-pair='BTC-USD']")).to_be_visible()
    page.fill("[data-pair-search]", "xyz")
    expect(page.locator("[data-pair-none]")).to_be_visible()
    page.fill("[data-pair-search]", "")
    # Sell tab: the button follows; the market stays usable in one column.
    page.locator("label[for=side-1]").click()
    expect(page.locator("#order-form button[type=submit]")).to_have_text(re.compile(r"Sell ETH"))
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways ({width}px)"
    page.shot("phone")
