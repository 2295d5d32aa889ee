"""Socket.IO events carry what the JSON API answers for the same object."""

import pytest

from tests.conftest import ApiClient
from tests.trading_helpers import fund
from tradeapp.extensions import socketio
from tradeapp.services.tokens import issue_tokens


@pytest.fixture()
def trader(create_user, pairs, market):
    user = create_user()
    fund(user, "USD", "100000")
    market.set("BTC/USD", "50000", "50010", size="1", step="10")
    return user


def _last(received: list[dict], name: str) -> dict:
    return [e["args"][0] for e in received if e["name"] == name][-1]


def test_socket_events_and_the_api_carry_the_same_order_trade_and_position(app, trader):
    token = issue_tokens(trader)["access"]
    api = ApiClient(app.test_client(), token)
    sc = socketio.test_client(app, auth={"token": token})
    sc.get_received()

    placed = api.post(
        "/api/v1/orders/", json={"symbol": "BTC-USD", "side": "buy", "order_type": "market", "quantity": "0.5"}
    )
    assert placed.status_code == 201, placed.get_json()
    received = sc.get_received()

    order_event = _last(received, "order")
    order = api.get(f"/api/v1/orders/{order_event['id']}/").get_json()
    assert order_event == order
    assert order_event["status"] == "filled" and order_event["quantity"] == "0.500000"

    trade_event = _last(received, "trade")
    trades = api.get(f"/api/v1/trades/?order={order['id']}").get_json()["results"]
    assert [trade_event] == trades

    position_event = _last(received, "position")
    position = api.get(f"/api/v1/positions/{position_event['id']}/").get_json()
    assert set(position_event) == set(position)
    marked = {"current_price", "market_value", "unrealized_pnl"}
    assert {k: v for k, v in position_event.items() if k not in marked} == {
        k: v for k, v in position.items() if k not in marked
    }
    sc.disconnect()


def test_wallet_events_write_zero_in_plain_digits_at_the_currencys_precision(trader):
    """A zero BTC balance is "0.00000000", never Python's "0E-8"."""
    from decimal import Decimal

    from tradeapp import realtime
    from tradeapp.models import Wallet

    wallet = Wallet(user_id=trader.id, currency="BTC", balance=Decimal(0), locked_balance=Decimal("0E-18"))
    assert realtime.wallet_payload(wallet) == {
        "currency": "BTC",
        "balance": "0.00000000",
        "locked_balance": "0.00000000",
        "available_balance": "0.00000000",
    }
