"""The feed → trigger check → fill → Socket.IO path, and the trigger query's use of its index."""

from decimal import Decimal

import pytest
from sqlalchemy import text

from tests.trading_helpers import balances, fund
from tradeapp.extensions import db, socketio
from tradeapp.market.runner import FeedRunner
from tradeapp.models import Order
from tradeapp.services import ledger
from tradeapp.services.tokens import issue_tokens
from tradeapp.services.trading import orders

D = Decimal


@pytest.fixture()
def trader(create_user, pairs, market):
    user = create_user()
    fund(user, "USD", "100000")
    market.set("BTC/USD", "50000", "50010", size="1", step="10")
    market.set("ETH/USD", "3000", "3001", size="10", step="1")
    return user


def test_a_tick_that_crosses_a_limit_fills_it_and_tells_the_owner(app, trader, market):
    order = orders.place_order(
        trader, {"symbol": "BTC-USD", "side": "buy", "order_type": "limit", "quantity": "0.5", "price": "49500"}
    )
    sc = socketio.test_client(app, auth={"token": issue_tokens(trader)["access"]})
    sc.emit("subscribe", {"symbols": ["BTC-USD"]}, callback=True)
    sc.get_received()
    runner = FeedRunner(app, feed=market, interval=1.0)
    db.session.rollback()  # the runner works in its own session (SQLite: one writer at a time)

    runner.tick_once()  # nothing crossed yet
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "open"

    market.set("BTC/USD", "49480", "49490", size="1", step="10")
    db.session.rollback()
    runner.tick_once()

    db.session.expire_all()
    filled = db.session.get(Order, order.id)
    assert filled.status == "filled" and filled.average_price == D("49490")
    received = sc.get_received()
    names = [e["name"] for e in received]
    assert {"ticker", "orderbook", "order", "trade", "position", "wallet_updated"} <= set(names)
    order_event = next(e["args"][0] for e in received if e["name"] == "order")
    assert order_event["id"] == order.id and order_event["status"] == "filled"
    assert balances(trader, "BTC") == (D("0.5"), 0)
    assert ledger.check().ok
    sc.disconnect()


def test_trigger_query_reads_only_crossed_orders_through_the_index(app, trader, market):
    for i in range(30):
        orders.place_order(
            trader,
            {"symbol": "BTC-USD", "side": "buy", "order_type": "limit", "quantity": "0.01", "price": str(40000 + i)},
        )
    pair_id = db.session.scalar(text("SELECT id FROM trading_pairs WHERE symbol = 'BTC/USD'"))
    assert orders.crossed_order_ids(pair_id, D("49990"), D("50000")) == []
    crossed = orders.crossed_order_ids(pair_id, D("40019"), D("40025"))
    prices = [db.session.get(Order, i).price for i in crossed]
    assert prices == sorted(prices, reverse=True) and prices[0] == D("40029") and prices[-1] == D("40025")
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            row[0]
            for row in db.session.execute(
                text(
                    "EXPLAIN SELECT id FROM orders WHERE pair_id = :p AND trigger_key = 'buy_down' "
                    "AND status IN ('open', 'partially_filled') AND trigger_price >= 40025 "
                    "ORDER BY trigger_price DESC, id LIMIT 500"
                ),
                {"p": pair_id},
            )
        )
        assert "ix_orders_live_trigger" in plan
        db.session.rollback()
