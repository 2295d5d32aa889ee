"""Orders and trades API: place, list, filter, detail, cancel, other users' orders, bad input, idempotency.

Prices are set by hand (``tests.trading_helpers.market`` through ``pin_prices``): BTC/USD bid
50000.00 / ask 50010.00, book levels 10 USD apart of 1 BTC each; taker fee 0.2 %, so a market buy
of 0.01 BTC costs 500.10 + 1.01 fee.
"""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.trading_helpers import fund
from tradeapp.models import Order, Trade
from tradeapp.services import ledger

from .helpers import assert_error
from .order_helpers import as_user, available, balance, make_stale, pin_prices, place

D = Decimal
URL = "/api/v1/orders/"

ORDER_FIELDS = {
    "id",
    "trading_pair",
    "trading_pair_detail",
    "symbol",
    "order_type",
    "side",
    "quantity",
    "price",
    "stop_price",
    "filled_quantity",
    "remaining_quantity",
    "average_price",
    "status",
    "status_reason",
    "fee",
    "source",
    "position",
    "created_at",
    "updated_at",
    "executed_at",
}
TRADE_FIELDS = {
    "id",
    "order",
    "order_detail",
    "symbol",
    "side",
    "quantity",
    "price",
    "notional",
    "fee",
    "liquidity",
    "realized_pnl",
    "executed_at",
    "external_trade_id",
}


@pytest.fixture()
def alice(db, user, pairs, market):
    pin_prices(market)
    """The token's user with 1,000 USD and 0.5 BTC."""
    fund(user, "USD", "1000")
    fund(user, "BTC", "0.5")
    return user


@pytest.fixture()
def bob(db, create_user, pairs, market):
    pin_prices(market)
    bob = create_user(email="bob@example.com", username="bob")
    fund(bob, "USD", "1000")
    return bob


def orders_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Order))


# -- auth ------------------------------------------------------------------------------------------


def test_every_endpoint_needs_a_token(api_client, pairs):
    for method, url in [
        ("get", URL),
        ("post", URL),
        ("get", f"{URL}1/"),
        ("delete", f"{URL}1/"),
        ("post", f"{URL}1/cancel/"),
        ("get", "/api/v1/trades/"),
    ]:
        kwargs = {"json": {}} if method == "post" else {}
        assert_error(getattr(api_client, method)(url, **kwargs), 401, "not_authenticated")


# -- placing -----------------------------------------------------------------------------------------


def test_market_buy_fills_at_the_ask_and_charges_notional_plus_fee(db, alice, auth_api_client, pairs):
    r = place(auth_api_client)
    assert r.status_code == 201, r.get_json()
    order = r.get_json()
    assert set(order) == ORDER_FIELDS
    btc = pairs["BTC/USD"]
    assert order["trading_pair"] == btc.id and order["symbol"] == "BTC/USD"
    assert order["trading_pair_detail"]["id"] == btc.id and order["trading_pair_detail"]["symbol"] == "BTC/USD"
    assert (order["order_type"], order["side"], order["status"], order["source"]) == (
        "market",
        "buy",
        "filled",
        "manual",
    )
    # Quantities to the pair's 6 places, prices to its 2, money to the quote currency's 2.
    assert order["quantity"] == "0.010000" and order["filled_quantity"] == "0.010000"
    assert order["remaining_quantity"] == "0.000000"
    assert order["average_price"] == "50010.00"
    assert order["price"] is None and order["stop_price"] is None
    assert order["fee"] == "1.01"  # 0.2 % of 500.10 = 1.0002, rounded up to the cent
    assert order["status_reason"] == "" and order["executed_at"] and order["created_at"]
    assert available(alice) == D("1000") - D("500.10") - D("1.01")
    assert balance(alice, "BTC") == D("0.51")
    assert ledger.check().ok


def test_limit_buy_below_the_ask_rests_and_holds_notional_plus_fee(db, alice, auth_api_client):
    r = place(auth_api_client, order_type="limit", quantity="0.02", price="40000")
    assert r.status_code == 201, r.get_json()
    order = r.get_json()
    assert order["status"] == "open" and order["price"] == "40000.00" and order["filled_quantity"] == "0.000000"
    assert order["average_price"] is None and order["executed_at"] is None and order["fee"] == "0.00"
    # 0.02 × 40000 = 800.00, plus 0.2 % = 1.60.
    assert available(alice) == D("1000") - D("801.60")
    assert balance(alice) == D("1000")


def test_order_by_pair_id_and_slash_symbol(alice, auth_api_client, pairs):
    eth = pairs["ETH/USD"]
    r = place(auth_api_client, symbol=..., trading_pair=eth.id, quantity="0.1")
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["symbol"] == "ETH/USD" and r.get_json()["quantity"] == "0.100000"
    r = place(auth_api_client, symbol="eth/usd", quantity="0.1")
    assert r.status_code == 201 and r.get_json()["trading_pair"] == eth.id


def test_limit_sell_rests_and_holds_the_base_quantity(db, alice, auth_api_client):
    r = place(auth_api_client, side="sell", order_type="limit", quantity="0.2", price="60000.5")
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["status"] == "open" and r.get_json()["price"] == "60000.50"
    assert available(alice, "BTC") == D("0.3")


def test_stop_loss_needs_a_stop_price_below_the_bid(db, alice, auth_api_client):
    r = place(auth_api_client, side="sell", order_type="stop_loss", quantity="0.1")
    assert_error(r, 400, "validation_error", fields=["stop_price"])
    r = place(auth_api_client, side="sell", order_type="stop_loss", quantity="0.1", stop_price="50500")
    assert_error(r, 400, "validation_error", fields=["stop_price"])  # would fire at once
    r = place(auth_api_client, side="sell", order_type="stop_loss", quantity="0.1", stop_price="45000")
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["status"] == "open" and r.get_json()["stop_price"] == "45000.00"


def test_decimals_may_be_json_numbers_and_are_read_exactly(db, alice, auth_api_client):
    as_string = place(auth_api_client, order_type="limit", quantity="0.005", price="40000.1")
    as_number = place(auth_api_client, order_type="limit", quantity=0.005, price=40000.1)
    assert as_string.status_code == as_number.status_code == 201, as_number.get_json()
    for key in ("quantity", "price", "status"):
        assert as_string.get_json()[key] == as_number.get_json()[key]
    assert as_number.get_json()["price"] == "40000.10"
    # An integer is a number too.
    r = place(auth_api_client, order_type="limit", quantity="0.005", price=40000)
    assert r.status_code == 201 and r.get_json()["price"] == "40000.00"
    # 0.0100000000000000000001 is not 0.01, even though the nearest float is.
    raw = '{"symbol": "BTC-USD", "order_type": "market", "side": "buy", "quantity": 0.0100000000000000000001}'
    r = auth_api_client.post(URL, data=raw, content_type="application/json")
    assert_error(r, 400, "validation_error", fields=["quantity"])
    assert orders_count(db) == 3


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"order_type": "limit"}, "price"),  # a limit order needs a price
        ({"order_type": "limit", "price": ""}, "price"),
        ({"side": "hold"}, "side"),
        ({"side": ...}, "side"),
        ({"order_type": "iceberg"}, "order_type"),
        ({"quantity": "0.0000001"}, "quantity"),  # 7 places; BTC/USD quantities have 6
        ({"order_type": "limit", "price": "40000.001"}, "price"),  # prices have 2
        ({"quantity": "0.00001"}, "quantity"),  # below the minimum 0.0001
        ({"quantity": "101"}, "quantity"),  # above the maximum 100
        ({"quantity": "-0.01"}, "quantity"),
        ({"quantity": "0"}, "quantity"),
        ({"order_type": "limit", "price": "-1"}, "price"),
        ({"quantity": "abc"}, "quantity"),
        ({"quantity": "NaN"}, "quantity"),
        ({"quantity": True}, "quantity"),
        ({"quantity": ["0.01"]}, "quantity"),
        ({"quantity": ...}, "quantity"),
        ({"symbol": "DOGE-USD"}, "symbol"),
        ({"symbol": ...}, "symbol"),
        ({"symbol": ..., "trading_pair": 999999}, "trading_pair"),
        ({"price": "50000"}, "price"),  # a market order takes no price
    ],
)
def test_bad_input_is_a_clear_400_and_changes_nothing(db, alice, auth_api_client, fields, field):
    before = available(alice)
    r = place(auth_api_client, **fields)
    body = assert_error(r, 400, "validation_error", fields=[field])
    assert all(isinstance(m, str) for m in body["fields"][field])
    assert orders_count(db) == 0
    assert available(alice) == before


def test_every_problem_is_reported_in_one_answer(db, alice, auth_api_client):
    r = place(auth_api_client, side="hold", order_type="limit", quantity="0.0000001", price="1.001")
    body = assert_error(r, 400, "validation_error", fields=["side", "quantity", "price"])
    assert body["error"]


def test_inactive_pair_is_refused(db, alice, auth_api_client, pairs):
    pairs["BTC/USD"].is_active = False
    db.session.commit()
    assert_error(place(auth_api_client), 400, "validation_error", fields=["symbol"])


def test_insufficient_funds_is_400_and_holds_nothing(db, alice, auth_api_client):
    r = place(auth_api_client, order_type="limit", quantity="1", price="40000")  # 40,080 USD > 1,000
    assert_error(r, 400, "insufficient_funds", fields=["quantity"])
    r = place(auth_api_client, side="sell", quantity="0.6")  # 0.6 BTC > 0.5
    assert_error(r, 400, "insufficient_funds", fields=["quantity"])
    assert orders_count(db) == 0
    assert available(alice) == D("1000") and available(alice, "BTC") == D("0.5")


def test_stale_prices_are_409_and_place_nothing(db, alice, auth_api_client, monkeypatch):
    make_stale(monkeypatch, "BTC/USD")
    assert_error(place(auth_api_client), 409, "market_stale")
    assert orders_count(db) == 0 and available(alice) == D("1000")


def test_body_must_be_json(alice, auth_api_client):
    r = auth_api_client.client.post(
        URL, data="symbol=BTC-USD", headers={**auth_api_client._headers(None), "Content-Type": "text/plain"}
    )
    assert_error(r, 415)
    r = auth_api_client.client.post(
        URL, data="{not json", headers={**auth_api_client._headers(None), "Content-Type": "application/json"}
    )
    assert_error(r, 400)


# -- idempotency ------------------------------------------------------------------------------------------


def test_idempotency_key_replays_the_order_without_placing_it_twice(db, alice, auth_api_client):
    headers = {"Idempotency-Key": "buy-once"}
    body = {"symbol": "BTC-USD", "order_type": "market", "side": "buy", "quantity": "0.01"}
    first = auth_api_client.post(URL, json=body, headers=headers)
    second = auth_api_client.post(URL, json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_json() == first.get_json()
    assert orders_count(db) == 1
    assert available(alice) == D("1000") - D("501.11")
    other = auth_api_client.post(URL, json={**body, "quantity": "0.02"}, headers=headers)
    assert_error(other, 422, "idempotency_key_reused")
    assert orders_count(db) == 1


# -- listing, filters, detail -------------------------------------------------------------------------------


def test_listing_is_paginated_newest_first_and_filters_by_status_and_symbol(db, alice, bob, auth_api_client, app):
    fund(alice, "USD", "1000")
    filled = place(auth_api_client).get_json()
    resting = place(auth_api_client, order_type="limit", quantity="0.01", price="40000").get_json()
    eth = place(auth_api_client, symbol="ETH-USD", quantity="0.1").get_json()
    place(as_user(app, bob))  # never listed for alice

    body = auth_api_client.get(URL).get_json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3 and [o["id"] for o in body["results"]] == [eth["id"], resting["id"], filled["id"]]
    assert set(body["results"][0]) == ORDER_FIELDS

    page = auth_api_client.get(f"{URL}?page_size=2").get_json()
    assert len(page["results"]) == 2 and "page=2" in page["next"] and page["previous"] is None

    assert [o["id"] for o in auth_api_client.get(f"{URL}?status=open").get_json()["results"]] == [resting["id"]]
    by_symbol = auth_api_client.get(f"{URL}?symbol=BTC-USD").get_json()["results"]
    assert [o["id"] for o in by_symbol] == [resting["id"], filled["id"]]
    both = auth_api_client.get(f"{URL}?symbol=BTC/USD&status=filled").get_json()["results"]
    assert [o["id"] for o in both] == [filled["id"]]


@pytest.mark.parametrize(("query", "field"), [("status=sleeping", "status"), ("symbol=DOGE-USD", "symbol")])
def test_bad_filters_are_400(alice, auth_api_client, query, field):
    assert_error(auth_api_client.get(f"{URL}?{query}"), 400, "validation_error", fields=[field])


def test_detail(alice, auth_api_client):
    order = place(auth_api_client).get_json()
    r = auth_api_client.get(f"{URL}{order['id']}/")
    assert r.status_code == 200 and r.get_json() == order


# -- cancelling ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["delete", "post"])
def test_cancel_releases_the_hold(db, alice, auth_api_client, how):
    order = place(auth_api_client, order_type="limit", quantity="0.02", price="40000").get_json()
    assert available(alice) == D("198.40")
    url = f"{URL}{order['id']}/"
    if how == "delete":  # the seed's router: 204, no body; the order stays, cancelled
        r = auth_api_client.delete(url)
        assert r.status_code == 204 and r.get_data() == b""
        cancelled = auth_api_client.get(url).get_json()
    else:  # the seed's cancel action: the order
        r = auth_api_client.post(f"{url}cancel/")
        assert r.status_code == 200, r.get_json()
        cancelled = r.get_json()
    assert cancelled["id"] == order["id"] and cancelled["status"] == "cancelled" and cancelled["status_reason"]
    assert available(alice) == D("1000") and balance(alice) == D("1000")
    # Not cancellable any more, by either route: a 400, as in the seed.
    assert_error(auth_api_client.delete(url), 400, "illegal_transition")
    assert_error(auth_api_client.post(f"{url}cancel/"), 400, "illegal_transition")
    assert available(alice) == D("1000")
    assert ledger.check().ok


def test_a_filled_order_is_not_cancellable(db, alice, auth_api_client):
    order = place(auth_api_client).get_json()
    assert_error(auth_api_client.delete(f"{URL}{order['id']}/"), 400, "illegal_transition")
    assert auth_api_client.get(f"{URL}{order['id']}/").get_json()["status"] == "filled"


def test_another_users_order_is_404_and_left_alone(db, alice, bob, auth_api_client, app):
    theirs = place(as_user(app, bob), order_type="limit", quantity="0.02", price="40000").get_json()
    held = available(bob)
    url = f"{URL}{theirs['id']}/"
    for r in (
        auth_api_client.get(url),
        auth_api_client.delete(url),
        auth_api_client.post(f"{url}cancel/"),
        auth_api_client.get(f"{URL}999999/"),
    ):
        assert_error(r, 404, "not_found")
    assert db.session.get(Order, theirs["id"]).status == "open"
    assert available(bob) == held
    assert auth_api_client.get(f"/api/v1/trades/?order={theirs['id']}").get_json()["count"] == 0


# -- trades ------------------------------------------------------------------------------------------------


def test_trades_list_the_fills_with_their_order(db, alice, bob, auth_api_client, app):
    buy = place(auth_api_client, quantity="0.2", symbol="ETH-USD").get_json()  # 0.2 ETH at 3001.00
    sell = place(auth_api_client, side="sell", quantity="0.01").get_json()  # 0.01 BTC at 50000.00
    place(as_user(app, bob))

    body = auth_api_client.get("/api/v1/trades/").get_json()
    assert body["count"] == 2
    newest, oldest = body["results"]
    assert set(newest) == TRADE_FIELDS
    assert newest["order"] == sell["id"] and oldest["order"] == buy["id"]
    assert newest["order_detail"]["id"] == sell["id"] and set(newest["order_detail"]) == ORDER_FIELDS
    assert (newest["symbol"], newest["side"], newest["liquidity"]) == ("BTC/USD", "sell", "taker")
    assert newest["quantity"] == "0.010000" and newest["price"] == "50000.00"
    assert newest["notional"] == "500.00" and newest["fee"] == "1.00"
    assert newest["external_trade_id"] == ""
    assert newest["realized_pnl"] == "0.00"  # deposited coins, not bought: no entry price to realise against
    assert oldest["symbol"] == "ETH/USD" and oldest["quantity"] == "0.200000" and oldest["price"] == "3001.00"
    assert oldest["notional"] == "600.20" and oldest["fee"] == "1.21"  # 0.2 % of 600.20 = 1.2004, rounded up
    assert oldest["realized_pnl"] is None

    assert auth_api_client.get("/api/v1/trades/?symbol=ETH-USD").get_json()["count"] == 1
    assert auth_api_client.get(f"/api/v1/trades/?order={sell['id']}").get_json()["results"][0]["id"] == newest["id"]
    assert_error(auth_api_client.get("/api/v1/trades/?symbol=XYZ-USD"), 400, "validation_error", fields=["symbol"])


def test_a_market_order_walks_the_book(db, alice, auth_api_client):
    fund(alice, "USD", "200000")
    r = place(auth_api_client, quantity="2.5")  # 1 @ 50010, 1 @ 50020, 0.5 @ 50030
    order = r.get_json()
    assert order["status"] == "filled" and order["average_price"] == "50018.00"
    trades = auth_api_client.get(f"/api/v1/trades/?order={order['id']}").get_json()["results"]
    assert sorted((t["price"], t["quantity"]) for t in trades) == [
        ("50010.00", "1.000000"),
        ("50020.00", "1.000000"),
        ("50030.00", "0.500000"),
    ]
    assert db.session.scalar(select(func.count()).select_from(Trade)) == 3


# -- documentation ---------------------------------------------------------------------------------------


def test_endpoints_are_documented_with_bearer_auth(api_client, pairs):
    spec = api_client.get("/api/schema/").get_json()
    expected = {
        "/api/v1/orders/": {"get", "post"},
        "/api/v1/orders/{order_id}/": {"get", "delete"},
        "/api/v1/orders/{order_id}/cancel/": {"post"},
        "/api/v1/trades/": {"get"},
        "/api/v1/positions/": {"get"},
        "/api/v1/positions/{position_id}/": {"get", "patch"},
        "/api/v1/positions/{position_id}/close/": {"post"},
    }
    for path, methods in expected.items():
        assert methods <= set(spec["paths"][path]), path
        for method in methods:
            operation = spec["paths"][path][method]
            assert operation["security"] == [{"bearerAuth": []}], (path, method)
    create = spec["paths"]["/api/v1/orders/"]["post"]
    assert {"201", "400", "409"} <= set(create["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    assert {"Order", "Trade", "Position"} <= set(spec["components"]["schemas"])
    order = spec["components"]["schemas"]["Order"]["properties"]
    assert set(order) >= ORDER_FIELDS
