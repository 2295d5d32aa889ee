"""Staff trading pages: every user's orders and trades with filters, an order's file, staff cancel, feed health."""

import re
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import select

from tests.conftest import csrf_token
from tradeapp.market import runner as feed_runner
from tradeapp.models import AuditLog, Hold, Order, Trade, TradingPair
from tradeapp.models.types import utcnow
from tradeapp.services import ledger
from tradeapp.services.ledger import Leg
from tradeapp.services.seed import seed_pairs
from tradeapp.services.trading import orders, prices

HX = {"HX-Request": "true"}
ORDERS = "/staff/trading/orders/"
TRADES = "/staff/trading/trades/"


class _Published(dict):
    """Published quotes or books per symbol, stamped fresh on every read unless ``age`` says otherwise."""

    def __init__(self):
        super().__init__()
        self.age: dict[str, float] = {}

    def __getitem__(self, symbol):
        return {**super().__getitem__(symbol), "received_at": time.time() - self.age.get(symbol, 0.0)}


class FakeRunner:
    """Stands where the feed runner publishes (``tradeapp.market.runner``): fixed quotes, books, failures."""

    def __init__(self):
        self.quotes = _Published()
        self.books = _Published()
        self.statuses: dict[str, dict] = {}

    def pin(self, symbol, bid, ask, step, size):
        bid, ask, step = Decimal(bid), Decimal(ask), Decimal(step)
        self.quotes[symbol] = {
            "symbol": symbol,
            "last": str(bid),
            "bid": str(bid),
            "ask": str(ask),
            "timestamp": "2026-09-21T14:13:20+00:00",
        }
        self.books[symbol] = {
            "symbol": symbol,
            "bids": [[str(bid - i * step), size] for i in range(5)],
            "asks": [[str(ask + i * step), size] for i in range(5)],
            "timestamp": None,
        }

    def stale(self, symbol, seconds):
        self.quotes.age[symbol] = self.books.age[symbol] = seconds


@pytest.fixture()
def feed(app):
    runner = FakeRunner()
    runner.pin("BTC/USD", "50000.00", "50010.00", "10", "1")
    runner.pin("ETH/USD", "3000.00", "3001.00", "1", "10")
    runner.pin("EUR/USD", "1.10000", "1.10010", "0.0001", "100000")
    before = app.extensions.get(feed_runner.EXTENSION_KEY)
    app.extensions[feed_runner.EXTENSION_KEY] = runner
    yield runner
    if before is None:
        app.extensions.pop(feed_runner.EXTENSION_KEY, None)
    else:
        app.extensions[feed_runner.EXTENSION_KEY] = before


@pytest.fixture()
def seeded(db):
    """The demo pairs by symbol (BTC/USD: price 2 dp, quantity 6 dp, taker fee 0.2 %)."""
    seed_pairs()
    db.session.commit()
    return {p.symbol: p for p in db.session.scalars(select(TradingPair))}


def fund(db, user, amount, currency="USD"):
    wallet = ledger.wallet_for(user, currency)
    ledger.post(
        "deposit",
        [Leg(wallet, Decimal(amount)), Leg(ledger.platform_account("clearing:bank", currency), -Decimal(amount))],
    )
    db.session.commit()


def available(db, user, currency="USD") -> Decimal:
    db.session.expire_all()
    return ledger.wallet_for(user, currency).available_balance


@pytest.fixture()
def admin(staff_client_factory):
    client, _ = staff_client_factory("admin")
    return client


@pytest.fixture()
def book(db, feed, seeded, create_user):
    """Two customers with orders of every kind: alice buys BTC, bob sells ETH."""
    alice = create_user(email="ann@example.com", username="ann")
    bob = create_user(email="bob@example.com", username="bobby")
    fund(db, alice, "10000")
    fund(db, bob, "5", currency="ETH")
    placed = {
        "alice_market": orders.place_order(
            alice, {"symbol": "BTC-USD", "side": "buy", "order_type": "market", "quantity": "0.01"}
        ),
        "alice_limit": orders.place_order(
            alice, {"symbol": "BTC-USD", "side": "buy", "order_type": "limit", "quantity": "0.02", "price": "40000"}
        ),
        "bob_limit": orders.place_order(
            bob, {"symbol": "ETH-USD", "side": "sell", "order_type": "limit", "quantity": "1", "price": "3500"}
        ),
        "bob_market": orders.place_order(
            bob, {"symbol": "ETH-USD", "side": "sell", "order_type": "market", "quantity": "0.5"}
        ),
    }
    return {"alice": alice, "bob": bob, **{k: o.id for k, o in placed.items()}}


def _ids(html: str, kind: str = "order") -> set[int]:
    return {int(n) for n in re.findall(rf'<tr id="{kind}-(\d+)"', html)}


def _order(db, order_id) -> Order:
    db.session.expire_all()
    return db.session.get(Order, order_id)


# -- orders list ---------------------------------------------------------------------------------


def test_orders_listing_shows_every_users_orders(admin, book):
    r = admin.get(ORDERS)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert _ids(html) == {book["alice_market"], book["alice_limit"], book["bob_limit"], book["bob_market"]}
    assert "ann@example.com" in html and "bob@example.com" in html
    assert 'href="/staff/trading/orders/"' in html and 'href="/staff/trading/trades/"' in html  # the sidebar
    assert f'href="/staff/trading/orders/{book["alice_limit"]}"' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=ANN@example", {"alice_market", "alice_limit"}),
        ("q=bobby", {"bob_limit", "bob_market"}),
        ("q=nobody", set()),
        ("pair=ETH/USD", {"bob_limit", "bob_market"}),
        ("status=live", {"alice_limit", "bob_limit"}),
        ("status=filled", {"alice_market", "bob_market"}),
        ("side=sell", {"bob_limit", "bob_market"}),
        ("order_type=market", {"alice_market", "bob_market"}),
        ("q=ann&order_type=limit&status=open", {"alice_limit"}),
    ],
)
def test_orders_filters(admin, book, query, expected):
    html = admin.get(f"{ORDERS}?{query}").get_data(as_text=True)
    assert _ids(html) == {book[name] for name in expected}
    if not expected:
        assert "No orders match" in html


def test_orders_date_range(admin, book):
    today = utcnow().date()
    everything = {book["alice_market"], book["alice_limit"], book["bob_limit"], book["bob_market"]}
    assert _ids(admin.get(f"{ORDERS}?date_from={today}&date_to={today}").get_data(as_text=True)) == everything
    assert _ids(admin.get(f"{ORDERS}?date_from={today + timedelta(days=1)}").get_data(as_text=True)) == set()
    assert _ids(admin.get(f"{ORDERS}?date_to={today - timedelta(days=1)}").get_data(as_text=True)) == set()


def test_orders_htmx_gets_only_the_results(admin, book):
    r = admin.get(f"{ORDERS}?q=ann", headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "HX-Request" in r.headers["Vary"]
    assert html.lstrip().startswith('<div id="order-results">') and "<html" not in html
    assert _ids(html) == {book["alice_market"], book["alice_limit"]}


def test_invalid_filters_are_ignored_with_a_warning(admin, book):
    html = admin.get(f"{ORDERS}?status=bogus&pair=XXX/YYY&date_from=yesterday").get_data(as_text=True)
    assert "The invalid filters were ignored." in html
    assert len(_ids(html)) == 4


def test_orders_paginate(admin, db, seeded, create_user):
    carol = create_user(email="carol@example.com", username="carol")
    btc = seeded["BTC/USD"]
    for _ in range(27):
        db.session.add(
            Order(
                user_id=carol.id,
                pair_id=btc.id,
                order_type="market",
                side="buy",
                quantity=Decimal("0.01"),
                status="rejected",
                status_reason="No offers.",
            )
        )
    db.session.commit()
    first = admin.get(ORDERS).get_data(as_text=True)
    assert len(_ids(first)) == 25 and "1–25 of 27" in first
    assert 'hx-get="/staff/trading/orders/?page=2"' in first
    second = admin.get(f"{ORDERS}?page=2", headers=HX).get_data(as_text=True)
    assert len(_ids(second)) == 2 and not _ids(first) & _ids(second)
    # a rejected order never held anything
    detail = admin.get(f"/staff/trading/orders/{min(_ids(second))}").get_data(as_text=True)
    assert "No hold" in detail and "No offers." in detail and 'name="reason"' not in detail


# -- trades list ---------------------------------------------------------------------------------


def test_trades_listing_and_filters(admin, db, book):
    alice_fills = set(db.session.scalars(select(Trade.id).where(Trade.order_id == book["alice_market"])))
    bob_fills = set(db.session.scalars(select(Trade.id).where(Trade.order_id == book["bob_market"])))
    assert alice_fills and bob_fills
    html = admin.get(TRADES).get_data(as_text=True)
    assert _ids(html, "trade") == alice_fills | bob_fills
    assert f'href="/staff/trading/orders/{book["alice_market"]}"' in html
    assert _ids(admin.get(f"{TRADES}?q=ann").get_data(as_text=True), "trade") == alice_fills
    assert _ids(admin.get(f"{TRADES}?side=sell").get_data(as_text=True), "trade") == bob_fills
    assert _ids(admin.get(f"{TRADES}?pair=BTC/USD").get_data(as_text=True), "trade") == alice_fills
    tomorrow = utcnow().date() + timedelta(days=1)
    assert _ids(admin.get(f"{TRADES}?date_from={tomorrow}").get_data(as_text=True), "trade") == set()
    fragment = admin.get(f"{TRADES}?q=bobby", headers=HX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="trade-results">') and _ids(fragment, "trade") == bob_fills


# -- one order -----------------------------------------------------------------------------------


def test_filled_order_shows_fills_hold_and_ledger_entries(admin, db, book):
    order = _order(db, book["alice_market"])
    trade = db.session.scalars(select(Trade).where(Trade.order_id == order.id)).first()
    html = admin.get(f"/staff/trading/orders/{order.id}").get_data(as_text=True)
    assert f"Order #{order.id}" in html and "filled" in html
    assert f"#{trade.id}" in html and f'id="entry-{trade.entry_id}"' in html
    assert (
        "fees (platform)" in html and "trading (platform)" in html and "BTC wallet" in html
    )  # the entry's counter-accounts
    assert f"#{order.hold_id}" in html and "posted" in html  # the hold, spent
    # links to the customer's ledger (admins hold ledger.view)
    assert f'href="/staff/ledger/users/{book["alice"].id}"' in html
    assert f'href="/staff/ledger/users/{book["alice"].id}?currency=BTC"' in html
    assert 'name="reason"' not in html  # nothing to cancel


def test_open_order_shows_its_active_hold_and_the_cancel_form(admin, db, book):
    order = _order(db, book["alice_limit"])
    html = admin.get(f"/staff/trading/orders/{order.id}").get_data(as_text=True)
    assert "No fills" in html and "active" in html
    assert order.hold.amount == Decimal("801.60")  # 0.02 × 40,000 plus the 0.2 % fee
    assert "801.60 USD" in html
    assert 'name="reason"' in html and f'action="/staff/trading/orders/{order.id}/cancel"' in html
    fragment = admin.get(f"/staff/trading/orders/{order.id}", headers=HX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="order-panel"') and "<html" not in fragment


def test_unknown_order_is_404(admin, db):
    assert admin.get("/staff/trading/orders/999999").status_code == 404


# -- staff cancel ----------------------------------------------------------------------------------


def test_staff_cancel_releases_the_hold_and_is_audited(admin, db, book):
    alice = book["alice"]
    before = available(db, alice)
    order = _order(db, book["alice_limit"])
    held = order.hold.remaining
    r = admin.post(
        f"/staff/trading/orders/{order.id}/cancel",
        data={
            "reason": "Customer request, ticket #42",
            "csrf_token": csrf_token(admin, f"/staff/trading/orders/{order.id}"),
        },
        headers=HX,
    )
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="order-panel"') and "cancelled; the unfilled hold was released" in html
    assert "order.cancel" in html and "ticket #42" in html  # the audit trail in the panel
    order = _order(db, order.id)
    assert order.status == "cancelled" and "ticket #42" in order.status_reason
    assert db.session.get(Hold, order.hold_id).status == "released"
    assert available(db, alice) == before + held
    [row] = db.session.scalars(select(AuditLog).where(AuditLog.action == "order.cancel")).all()
    assert row.target_type == "orders" and row.target_id == str(order.id)
    assert row.after["reason"] == "Customer request, ticket #42" and row.actor.role == "admin"


def test_staff_cancel_without_htmx_redirects_back(admin, db, book):
    order_id = book["bob_limit"]
    url = f"/staff/trading/orders/{order_id}"
    r = admin.post(f"{url}/cancel", data={"reason": "Pair delisting", "csrf_token": csrf_token(admin, url)})
    assert r.status_code == 303 and r.headers["Location"].endswith(url)
    assert "cancelled" in admin.get(url).get_data(as_text=True)
    assert _order(db, order_id).status == "cancelled"


def test_staff_cancel_needs_a_reason(admin, db, book):
    order_id = book["alice_limit"]
    url = f"/staff/trading/orders/{order_id}"
    r = admin.post(f"{url}/cancel", data={"reason": "  ", "csrf_token": csrf_token(admin, url)}, headers=HX)
    assert r.status_code == 422
    assert "Say why" in r.get_data(as_text=True)
    assert _order(db, order_id).status == "open"
    assert db.session.scalar(select(AuditLog.id).where(AuditLog.action == "order.cancel")) is None


def test_staff_cancel_refuses_a_finished_order(admin, db, book):
    order_id = book["alice_market"]
    url = f"/staff/trading/orders/{order_id}"
    r = admin.post(f"{url}/cancel", data={"reason": "Too late", "csrf_token": csrf_token(admin, url)}, headers=HX)
    assert r.status_code == 422
    assert "already filled" in r.get_data(as_text=True)
    assert _order(db, order_id).status == "filled"


def test_staff_cancel_with_expired_form_changes_nothing(admin, db, book):
    order_id = book["alice_limit"]
    r = admin.post(f"/staff/trading/orders/{order_id}/cancel", data={"reason": "No token"}, headers=HX)
    assert r.status_code in (400, 422)
    assert _order(db, order_id).status == "open"


# -- permissions -------------------------------------------------------------------------------------


def test_a_customers_page_leads_to_their_orders_and_audit_rows_to_the_order(admin, db, book):
    alice = book["alice"]
    page = admin.get(f"/staff/users/{alice.id}").get_data(as_text=True)
    link = re.search(r'href="(/staff/trading/orders/\?q=[^"]+)"', page)
    assert link, "the customer page links to their orders"
    listing = admin.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert _ids(listing) == {book["alice_market"], book["alice_limit"]}
    assert f'href="/staff/ledger/users/{alice.id}"' in page

    token = csrf_token(admin, f"/staff/trading/orders/{book['alice_limit']}")
    admin.post(
        f"/staff/trading/orders/{book['alice_limit']}/cancel",
        data={"csrf_token": token, "reason": "customer asked by phone"},
    )
    audit = admin.get("/staff/audit/").get_data(as_text=True)
    assert f'href="/staff/trading/orders/{book["alice_limit"]}">orders#{book["alice_limit"]}</a>' in audit


def test_finance_reads_orders_but_cannot_cancel(staff_client_factory, db, book):
    client, _ = staff_client_factory("finance")
    assert client.get(ORDERS).status_code == 200 and client.get(TRADES).status_code == 200
    url = f"/staff/trading/orders/{book['alice_limit']}"
    html = client.get(url).get_data(as_text=True)
    assert 'name="reason"' not in html and 'href="/staff/trading/orders/"' in html
    r = client.post(f"{url}/cancel", data={"reason": "Nope", "csrf_token": csrf_token(client, url)})
    assert r.status_code == 403
    assert _order(db, book["alice_limit"]).status == "open"


def test_loans_staff_and_customers_are_refused(staff_client_factory, logged_in_client, db, book):
    client, _ = staff_client_factory("loans")
    assert client.get(ORDERS).status_code == 403
    assert 'href="/staff/trading/orders/"' not in client.get("/staff/").get_data(as_text=True)
    assert logged_in_client.get(f"/staff/trading/orders/{book['alice_limit']}").status_code == 403


# -- feed status on the pairs page -------------------------------------------------------------------


def test_feed_status_panel(admin, db, feed, seeded):
    feed.stale("ETH/USD", 3630)
    feed.statuses["EUR/USD"] = {"failures": 3, "last_error": "RequestTimeout: kraken GET /0/public/Ticker"}
    seeded["GBP/USD"].is_active = False
    db.session.commit()
    page = admin.get("/staff/pairs/").get_data(as_text=True)
    assert 'id="feed-status"' in page and 'hx-get="/staff/pairs/feed-status"' in page
    assert 'hx-trigger="every 5s"' in page
    r = admin.get("/staff/pairs/feed-status", headers=HX)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith('<section class="card feed-status" id="feed-status"') and "<html" not in html
    rows = dict(re.findall(r'<tr id="feed-([A-Z]+-[A-Z]+)"[^>]*>(.*?)</tr>', html, re.S))
    assert "fresh" in rows["BTC-USD"] and "now" in rows["BTC-USD"]
    assert "stale" in rows["ETH-USD"] and "60 min" in rows["ETH-USD"]
    assert "stale" in rows["EUR-USD"] and ">3<" in rows["EUR-USD"] and "RequestTimeout" in rows["EUR-USD"]
    assert "inactive" in rows["GBP-USD"]
    assert "2 stale" in html


def test_feed_status_without_htmx_goes_to_the_pairs_page(admin, db):
    r = admin.get("/staff/pairs/feed-status")
    assert r.status_code == 303 and r.headers["Location"].endswith("/staff/pairs/")


def test_feed_status_when_redis_is_down(admin, db, seeded, monkeypatch):
    def down():
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(prices, "feed_status", down)
    r = admin.get("/staff/pairs/feed-status", headers=HX)
    assert r.status_code == 200 and "Redis cannot be reached" in r.get_data(as_text=True)
    assert admin.get("/staff/pairs/").status_code == 200


def test_feed_status_needs_the_pairs_permission(staff_client_factory, db):
    client, _ = staff_client_factory("finance")
    assert client.get("/staff/pairs/feed-status", headers=HX).status_code == 403
