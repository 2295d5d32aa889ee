"""Positions API: what a buy opens, valuation at the bid, stop-loss/take-profit, close, other users' positions.

Prices are set by hand (``tests.trading_helpers.market`` through ``pin_prices``): BTC/USD bid
50000.00 / ask 50010.00, taker fee 0.2 %. A market buy of 0.01 BTC fills at 50010.00 for
500.10 + 1.01 fee; selling it back fills at 50000.00 for 500.00 − 1.00 fee.
"""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.trading_helpers import fund
from tradeapp.models import Order, Position, TradingPair
from tradeapp.services import ledger

from .helpers import assert_error
from .order_helpers import as_user, available, balance, make_stale, pin_prices, place

D = Decimal
URL = "/api/v1/positions/"

POSITION_FIELDS = {
    "id",
    "trading_pair",
    "trading_pair_detail",
    "symbol",
    "side",
    "quantity",
    "entry_price",
    "current_price",
    "market_value",
    "unrealized_pnl",
    "realized_pnl",
    "leverage",
    "stop_loss",
    "take_profit",
    "opened_at",
    "updated_at",
}


@pytest.fixture()
def alice(db, user, pairs, market):
    pin_prices(market)
    """The token's user with 1,000 USD."""
    fund(user, "USD", "1000")
    return user


@pytest.fixture()
def bought(alice, auth_api_client):
    """Alice bought 0.01 BTC at market (50010.00); her BTC/USD position as the API shows it."""
    r = place(auth_api_client)
    assert r.status_code == 201 and r.get_json()["status"] == "filled", r.get_json()
    body = auth_api_client.get(URL).get_json()
    assert body["count"] == 1
    return body["results"][0]


def test_every_endpoint_needs_a_token(api_client, pairs):
    for method, url in [("get", URL), ("get", f"{URL}1/"), ("patch", f"{URL}1/"), ("post", f"{URL}1/close/")]:
        kwargs = {"json": {}} if method in ("post", "patch") else {}
        assert_error(getattr(api_client, method)(url, **kwargs), 401, "not_authenticated")


def test_no_positions_before_trading(alice, auth_api_client):
    assert auth_api_client.get(URL).get_json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_a_buy_opens_a_position_marked_at_the_bid(bought, pairs):
    position = bought
    assert set(position) == POSITION_FIELDS
    btc = pairs["BTC/USD"]
    assert position["trading_pair"] == btc.id and position["trading_pair_detail"]["symbol"] == "BTC/USD"
    assert position["symbol"] == "BTC/USD" and position["side"] == "long" and position["leverage"] == "1.00"
    assert position["quantity"] == "0.010000"
    assert position["entry_price"] == "50010.00"
    assert position["current_price"] == "50000.00"  # the bid: what it would sell at
    assert position["market_value"] == "500.00"
    assert position["unrealized_pnl"] == "-0.10"  # 0.01 × (50000 − 50010)
    assert position["realized_pnl"] == "0.00"
    assert position["stop_loss"] is None and position["take_profit"] is None
    assert position["opened_at"] and position["updated_at"]


def test_valuation_follows_the_price_and_a_second_buy_averages_the_entry(db, alice, bought, auth_api_client, market):
    fund(alice, "USD", "1000")
    market.set("BTC/USD", "52000.00", "52010.00", levels=5, size="1", step="10")
    moved = auth_api_client.get(f"{URL}{bought['id']}/").get_json()
    assert moved["current_price"] == "52000.00" and moved["market_value"] == "520.00"
    assert moved["unrealized_pnl"] == "19.90"  # 0.01 × (52000 − 50010)

    assert place(auth_api_client).status_code == 201  # 0.01 more at 52010.00
    position = auth_api_client.get(f"{URL}{bought['id']}/").get_json()
    assert position["quantity"] == "0.020000"
    assert position["entry_price"] == "51010.00"  # (50010 + 52010) / 2
    assert position["unrealized_pnl"] == "19.80"  # 0.02 × (52000 − 51010)
    assert auth_api_client.get(URL).get_json()["results"] == [position]


def test_a_position_without_a_price_is_listed_without_a_mark(db, alice, auth_api_client):
    pair = TradingPair(
        symbol="ETH/EUR",
        base_currency="ETH",
        quote_currency="EUR",
        pair_type="crypto",
        min_order_size=D("0.01"),
        max_order_size=D("10"),
        maker_fee=D("0.1"),
        taker_fee=D("0.2"),
    )
    db.session.add(pair)
    db.session.flush()
    db.session.add(Position(user_id=alice.id, pair_id=pair.id, quantity=D("1.5"), entry_price=D("2000")))
    db.session.commit()
    r = auth_api_client.get(URL)
    assert r.status_code == 200
    (position,) = r.get_json()["results"]
    assert position["symbol"] == "ETH/EUR" and position["quantity"] == "1.50000000"
    assert position["entry_price"] == "2000.00"
    assert position["current_price"] is None and position["market_value"] is None
    assert position["unrealized_pnl"] is None


# -- stop-loss and take-profit ---------------------------------------------------------------------------


def test_patch_sets_and_clears_stop_loss_and_take_profit(db, bought, auth_api_client):
    url = f"{URL}{bought['id']}/"
    r = auth_api_client.patch(url, json={"stop_loss": "45000"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["stop_loss"] == "45000.00" and r.get_json()["take_profit"] is None
    assert set(r.get_json()) == POSITION_FIELDS

    r = auth_api_client.patch(url, json={"take_profit": 60000.5})  # a JSON number; stop_loss is kept
    assert (r.get_json()["stop_loss"], r.get_json()["take_profit"]) == ("45000.00", "60000.50")
    stored = db.session.get(Position, bought["id"])
    db.session.refresh(stored)
    assert (stored.stop_loss, stored.take_profit) == (D("45000"), D("60000.5"))

    r = auth_api_client.patch(url, json={"stop_loss": None})
    assert (r.get_json()["stop_loss"], r.get_json()["take_profit"]) == (None, "60000.50")
    r = auth_api_client.patch(url, json={"take_profit": ""})
    assert (r.get_json()["stop_loss"], r.get_json()["take_profit"]) == (None, None)
    assert auth_api_client.get(url).get_json()["quantity"] == "0.010000"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"stop_loss": "50000"}, "stop_loss"),  # at the bid: it would fire at once
        ({"stop_loss": "55000"}, "stop_loss"),
        ({"take_profit": "49000"}, "take_profit"),  # below the bid
        ({"stop_loss": "45000.001"}, "stop_loss"),  # prices have 2 places
        ({"stop_loss": "-1"}, "stop_loss"),
        ({"stop_loss": "abc"}, "stop_loss"),
        ({"take_profit": True}, "take_profit"),
        ({}, "non_field_errors"),
        ({"quantity": "1"}, "non_field_errors"),  # not editable: ignored, so nothing to change
    ],
)
def test_bad_protection_is_400_and_changes_nothing(db, bought, auth_api_client, body, field):
    url = f"{URL}{bought['id']}/"
    assert auth_api_client.patch(url, json={"stop_loss": "40000"}).status_code == 200
    assert_error(auth_api_client.patch(url, json=body), 400, "validation_error", fields=[field])
    after = auth_api_client.get(url).get_json()
    assert after["stop_loss"] == "40000.00" and after["take_profit"] is None


# -- closing -----------------------------------------------------------------------------------------------


def test_close_sells_everything_at_market_and_realises_the_pnl(db, alice, bought, auth_api_client):
    r = auth_api_client.post(f"{URL}{bought['id']}/close/")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["message"] == "Position closed"
    order = r.get_json()["order"]
    assert (order["side"], order["order_type"], order["source"], order["status"], order["position"]) == (
        "sell",
        "market",
        "manual",
        "filled",
        bought["id"],
    )
    assert order["quantity"] == "0.010000" and order["average_price"] == "50000.00" and order["fee"] == "1.00"

    assert auth_api_client.get(URL).get_json()["count"] == 0  # open ones only
    everything = auth_api_client.get(f"{URL}?all=1").get_json()
    assert everything["count"] == 1
    closed = everything["results"][0]
    assert closed["id"] == bought["id"] and closed["quantity"] == "0.000000"
    assert closed["realized_pnl"] == "-1.10"  # 0.01 × (50000 − 50010) − 1.00 fee
    assert closed["market_value"] == "0.00" and closed["unrealized_pnl"] == "0.00"
    assert auth_api_client.get(f"{URL}{bought['id']}/").get_json() == closed

    sell = auth_api_client.get(f"/api/v1/trades/?order={order['id']}").get_json()["results"][0]
    assert sell["realized_pnl"] == "-1.10" and sell["notional"] == "500.00"
    # 1000 − (500.10 + 1.01) + (500.00 − 1.00)
    assert balance(alice) == D("997.89") and available(alice) == D("997.89")
    assert balance(alice, "BTC") == 0
    assert ledger.check().ok

    # Nothing left to close.
    assert_error(auth_api_client.post(f"{URL}{bought['id']}/close/"), 400, "illegal_transition")
    # Nor to protect.
    assert_error(auth_api_client.patch(f"{URL}{bought['id']}/", json={"stop_loss": "1"}), 409, "illegal_transition")


def test_close_with_an_idempotency_key_sells_once(db, alice, bought, auth_api_client):
    headers = {"Idempotency-Key": "close-btc"}
    first = auth_api_client.post(f"{URL}{bought['id']}/close/", headers=headers)
    second = auth_api_client.post(f"{URL}{bought['id']}/close/", headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.headers["Idempotent-Replayed"] == "true" and second.get_json() == first.get_json()
    sells = db.session.scalar(select(func.count()).select_from(Order).where(Order.side == "sell"))
    assert sells == 1
    assert balance(alice) == D("997.89")


def test_close_on_stale_prices_is_409_and_sells_nothing(db, alice, bought, auth_api_client, monkeypatch):
    make_stale(monkeypatch, "BTC/USD")
    assert_error(auth_api_client.post(f"{URL}{bought['id']}/close/"), 409, "market_stale")
    assert balance(alice, "BTC") == D("0.01")
    # Reading still works on the last prices.
    assert auth_api_client.get(f"{URL}{bought['id']}/").get_json()["current_price"] == "50000.00"


# -- other users --------------------------------------------------------------------------------------------


def test_another_users_position_is_404_and_left_alone(db, app, bought, auth_api_client, create_user):
    bob = create_user(email="bob@example.com", username="bob")
    fund(bob, "USD", "1000")
    bob_api = as_user(app, bob)
    assert bob_api.get(URL).get_json()["count"] == 0
    url = f"{URL}{bought['id']}/"
    for r in (
        bob_api.get(url),
        bob_api.patch(url, json={"stop_loss": "45000"}),
        bob_api.post(f"{url}close/"),
        bob_api.get(f"{URL}999999/"),
    ):
        assert_error(r, 404, "not_found")
    assert auth_api_client.get(url).get_json() == bought
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1
