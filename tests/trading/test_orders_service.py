"""The order service: holds, market and limit fills, triggers, cancel, positions, staleness."""

from decimal import Decimal

import pytest

from tests.trading_helpers import balances, fund
from tradeapp.errors import IllegalTransition, NotFound, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import Order, Trade
from tradeapp.services import ledger
from tradeapp.services.ledger import InsufficientFunds
from tradeapp.services.trading import orders, positions, prices

D = Decimal


@pytest.fixture()
def trader(create_user, pairs, market):
    user = create_user()
    fund(user, "USD", "100000")
    fund(user, "BTC", "2")
    market.set("BTC/USD", "50000", "50010", levels=5, size="0.5", step="10")
    return user


def place(user, **data):
    data.setdefault("symbol", "BTC-USD")
    return orders.place_order(user, data)


def test_market_buy_walks_the_book_and_charges_the_taker_fee(trader):
    order = place(trader, side="buy", order_type="market", quantity="1.2")
    assert order.status == "filled"
    # 0.5 @ 50010, 0.5 @ 50020, 0.2 @ 50030
    notional = D("0.5") * 50010 + D("0.5") * 50020 + D("0.2") * 50030
    assert order.average_price == (notional / D("1.2")).quantize(D("1e-12"))
    fee = (notional * D("0.2") / 100).quantize(D("0.01"), rounding="ROUND_UP")  # 120.042 → 120.05
    assert order.fee == fee
    assert balances(trader, "USD") == (D("100000") - notional - fee, 0)
    assert balances(trader, "BTC") == (D("3.2"), 0)
    assert db.session.query(Trade).count() == 3
    assert ledger.check().ok


def test_market_sell_pays_proceeds_less_fee_and_realises_pnl(trader, market):
    place(trader, side="buy", order_type="market", quantity="0.5")  # at 50010
    market.set("BTC/USD", "51000", "51010", size="0.5", step="10")
    order = place(trader, side="sell", order_type="market", quantity="0.5")
    assert order.status == "filled" and order.average_price == D("51000")
    proceeds = D("25500.00")
    sell_fee = D("51.00")
    buy_cost = D("25005.00") + D("50.01")
    assert balances(trader, "USD")[0] == D("100000") - buy_cost + proceeds - sell_fee
    position = db.session.scalars(positions.positions_query(trader, open_only=False)).one()
    assert position.quantity == 0
    assert position.realized_pnl == D("0.5") * (51000 - 50010) - sell_fee
    assert ledger.check().ok


def test_market_order_stops_at_the_slippage_cap_and_cancels_the_rest(trader, market, app):
    market.set_book("BTC/USD", bids=[["50000", "1"]], asks=[["50010", "0.3"], ["50400", "1"], ["51000", "5"]])
    order = place(trader, side="buy", order_type="market", quantity="1.5")
    # cap = 50010 * 1.01 = 50510.1 → 0.3 @ 50010 and 1 @ 50400; 51000 is beyond
    assert order.filled_quantity == D("1.3")
    assert order.status == "cancelled" and "slippage" in order.status_reason
    assert balances(trader, "USD")[1] == 0  # the unused hold came back
    assert ledger.check().ok


def test_market_order_with_no_liquidity_is_rejected_and_holds_nothing(trader, market):
    market.set_book("BTC/USD", bids=[], asks=[["50010", "1"]])
    order = place(trader, side="sell", order_type="market", quantity="0.1")
    assert order.status == "rejected"
    assert balances(trader, "BTC") == (D("2"), 0)


def test_limit_buy_rests_holds_price_plus_fee_and_fills_when_the_ask_falls(trader, market):
    order = place(trader, side="buy", order_type="limit", quantity="0.5", price="49000")
    assert order.status == "open" and order.trigger_key == "buy_down"
    held = D("24500.00") + D("49.00")  # notional + taker fee (it might fill at once) at the limit price
    assert balances(trader, "USD")[1] == held

    market.set("BTC/USD", "48980", "48990", size="1", step="10")
    assert orders.check_triggers("BTC/USD") == 1
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.status == "filled" and order.average_price == D("48990")
    # maker fee, at the better price; the rest of the hold is released
    cost = D("24495.00") + D("24.50")  # 0.5*48990 + 0.1 % maker fee (24.495 → 24.50)
    assert balances(trader, "USD") == (D("100000") - cost, 0)
    assert orders.check_triggers("BTC/USD") == 0  # safe to run twice
    assert ledger.check().ok


def test_marketable_limit_fills_what_crosses_and_rests_the_rest(trader, market):
    market.set_book("BTC/USD", bids=[["50000", "1"]], asks=[["50010", "0.2"], ["50030", "1"]])
    order = place(trader, side="buy", order_type="limit", quantity="0.5", price="50020")
    assert order.status == "partially_filled" and order.filled_quantity == D("0.2")
    assert order.trigger_price == D("50020")
    cancelled = orders.cancel_order(trader, order.id)
    assert cancelled.status == "cancelled"
    assert balances(trader, "USD")[1] == 0
    assert ledger.check().ok


def test_partial_fills_on_ticks_then_cancel_releases_exactly_the_unfilled_hold(trader, market):
    order = place(trader, side="sell", order_type="limit", quantity="1", price="50100")
    assert balances(trader, "BTC") == (D("2"), D("1"))
    market.set_book("BTC/USD", bids=[["50150", "0.4"], ["50050", "5"]], asks=[["50160", "1"]])
    orders.check_triggers("BTC/USD")
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.status == "partially_filled" and order.filled_quantity == D("0.4")
    assert balances(trader, "BTC") == (D("1.6"), D("0.6"))
    orders.cancel_order(trader, order.id)
    assert balances(trader, "BTC") == (D("1.6"), 0)
    with pytest.raises(IllegalTransition):
        orders.cancel_order(trader, order.id)
    assert ledger.check().ok


@pytest.mark.parametrize(
    ("side", "order_type", "stop", "moves_to", "fires"),
    [
        ("sell", "stop_loss", "49500", ("49400", "49410"), True),
        ("sell", "stop_loss", "49500", ("49600", "49610"), False),
        ("sell", "take_profit", "50500", ("50600", "50610"), True),
        ("sell", "take_profit", "50500", ("50400", "50410"), False),
        ("buy", "stop_loss", "50500", ("50590", "50600"), True),
        ("buy", "stop_loss", "50500", ("50390", "50400"), False),
        ("buy", "take_profit", "49500", ("49390", "49400"), True),
        ("buy", "take_profit", "49500", ("49590", "49600"), False),
    ],
)
def test_stop_and_take_profit_trigger_rules(trader, market, side, order_type, stop, moves_to, fires):
    order = place(trader, side=side, order_type=order_type, quantity="0.1", stop_price=stop)
    assert order.status == "open"
    market.set("BTC/USD", *moves_to, size="1", step="10")
    assert orders.check_triggers("BTC/USD") == (1 if fires else 0)
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.status == ("filled" if fires else "open")
    if fires:
        assert order.triggered_at is not None
        expected = D(moves_to[1]) if side == "buy" else D(moves_to[0])
        assert order.average_price == expected
    assert ledger.check().ok


def test_a_stop_that_would_fire_at_once_is_refused(trader):
    with pytest.raises(ValidationFailed) as exc:
        place(trader, side="sell", order_type="stop_loss", quantity="0.1", stop_price="50005")
    assert "below the current bid" in exc.value.fields["stop_price"][0]
    assert db.session.query(Order).count() == 0


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"side": "hold", "order_type": "market", "quantity": "1"}, "side"),
        ({"side": "buy", "order_type": "iceberg", "quantity": "1"}, "order_type"),
        ({"side": "buy", "order_type": "market", "quantity": "-1"}, "quantity"),
        ({"side": "buy", "order_type": "market", "quantity": "0"}, "quantity"),
        ({"side": "buy", "order_type": "market", "quantity": "abc"}, "quantity"),
        ({"side": "buy", "order_type": "market", "quantity": "0.1234567"}, "quantity"),
        ({"side": "buy", "order_type": "market", "quantity": "0.00001"}, "quantity"),
        ({"side": "buy", "order_type": "market", "quantity": "101"}, "quantity"),
        ({"side": "buy", "order_type": "market", "quantity": "1e30"}, "quantity"),
        ({"side": "buy", "order_type": "market", "quantity": "NaN"}, "quantity"),
        ({"side": "buy", "order_type": "limit", "quantity": "1"}, "price"),
        ({"side": "buy", "order_type": "limit", "quantity": "1", "price": "49000.001"}, "price"),
        ({"side": "buy", "order_type": "market", "quantity": "1", "price": "49000"}, "price"),
        ({"side": "sell", "order_type": "stop_loss", "quantity": "1"}, "stop_price"),
        ({"symbol": "DOGE-USD", "side": "buy", "order_type": "market", "quantity": "1"}, "symbol"),
    ],
)
def test_bad_orders_are_refused_with_field_errors_and_change_nothing(trader, data, field):
    with pytest.raises(ValidationFailed) as exc:
        place(trader, **data)
    assert field in exc.value.fields
    assert db.session.query(Order).count() == 0
    assert balances(trader, "USD") == (D("100000"), 0)


def test_insufficient_funds_names_what_the_order_needs(trader):
    with pytest.raises(InsufficientFunds) as exc:
        place(trader, side="sell", order_type="limit", quantity="3", price="60000")
    assert "quantity" in exc.value.fields
    assert db.session.query(Order).count() == 0
    assert balances(trader, "BTC") == (D("2"), 0)


def test_orders_on_a_stale_pair_are_refused(trader, app, monkeypatch):
    import time

    from tradeapp.market import runner

    published = {"symbol": "BTC/USD", "bid": "50000", "ask": "50010", "received_at": time.time() - 600}
    monkeypatch.setattr(runner, "last_quote", lambda symbol: published)
    monkeypatch.setattr(prices, "last_quote", lambda symbol: published)
    with pytest.raises(prices.MarketStale) as exc:
        place(trader, side="buy", order_type="market", quantity="0.1")
    assert exc.value.status == 409 and exc.value.code == "market_stale"
    assert db.session.query(Order).count() == 0
    from tradeapp.services.trading.pairs import get_pair

    assert prices.is_stale(get_pair("BTC-USD"))


def test_a_failing_feed_marks_the_pair_stale(trader, monkeypatch):
    from tradeapp.services.trading import prices as prices_module

    monkeypatch.setattr(prices_module, "pair_status", lambda symbol: {"failures": 3, "last_error": "timeout"})
    with pytest.raises(prices.MarketStale):
        place(trader, side="buy", order_type="market", quantity="0.1")


def test_others_orders_and_positions_are_not_found(trader, create_user):
    order = place(trader, side="buy", order_type="limit", quantity="0.1", price="40000")
    place(trader, side="buy", order_type="market", quantity="0.1")
    other = create_user()
    with pytest.raises(NotFound):
        orders.get_order(other, order.id)
    with pytest.raises(NotFound):
        orders.cancel_order(other, order.id)
    position = db.session.scalars(positions.positions_query(trader)).one()
    with pytest.raises(NotFound):
        positions.get_position(other, position.id)
    with pytest.raises(NotFound):
        orders.close_position(other, position.id)


def test_position_entry_is_volume_weighted_and_close_sells_it(trader, market):
    place(trader, side="buy", order_type="market", quantity="0.5")  # 50010
    market.set("BTC/USD", "51990", "52000", size="1", step="10")
    place(trader, side="buy", order_type="market", quantity="0.5")  # 52000
    position = db.session.scalars(positions.positions_query(trader)).one()
    assert position.quantity == 1 and position.entry_price == D("51005")
    value = positions.valuation(position)
    assert value["current_price"] == D("51990")
    assert value["unrealized_pnl"] == D("985.00")

    order = orders.close_position(trader, position.id)
    assert (
        order.status == "filled" and order.source == "manual" and order.position_id is not None and order.quantity == 1
    )
    db.session.expire_all()
    position = db.session.scalars(positions.positions_query(trader, open_only=False)).one()
    assert position.quantity == 0
    assert ledger.check().ok


def test_position_stop_loss_closes_it_once(trader, market):
    place(trader, side="buy", order_type="market", quantity="0.5")
    position = db.session.scalars(positions.positions_query(trader)).one()
    with pytest.raises(ValidationFailed):
        positions.set_protection(trader, position.id, {"stop_loss": "50500"})  # above the bid
    positions.set_protection(trader, position.id, {"stop_loss": "49000", "take_profit": "60000"})
    market.set("BTC/USD", "48900", "48910", size="1", step="10")
    orders.check_triggers("BTC/USD")
    db.session.expire_all()
    position = db.session.get(type(position), position.id)
    assert position.quantity == 0 and position.stop_loss is None
    closing = db.session.query(Order).filter(Order.position_id.is_not(None)).one()
    assert closing.status == "filled" and closing.average_price == D("48900")
    orders.check_triggers("BTC/USD")
    assert db.session.query(Order).filter(Order.position_id.is_not(None)).count() == 1
    assert ledger.check().ok


def test_preview_charges_the_maker_fee_to_a_limit_that_will_rest(trader):
    resting = orders.preview_order(
        trader, {"symbol": "BTC-USD", "side": "buy", "order_type": "limit", "quantity": "1", "price": "49000"}
    )
    assert (resting["fee_role"], resting["fee_pct"], resting["fee"]) == ("maker", D("0.1"), D("49.00"))
    crossing = orders.preview_order(
        trader, {"symbol": "BTC-USD", "side": "buy", "order_type": "limit", "quantity": "1", "price": "50010"}
    )
    assert (crossing["fee_role"], crossing["fee_pct"], crossing["fee"]) == ("taker", D("0.2"), D("100.02"))


def test_preview_shows_total_fee_and_available(trader):
    preview = orders.preview_order(
        trader, {"symbol": "BTC-USD", "side": "buy", "order_type": "market", "quantity": "1"}
    )
    assert preview["price"] == D("50015.00")  # VWAP of 0.5 @ 50010 and 0.5 @ 50020
    assert preview["notional"] == D("50015.00")
    assert preview["fee"] == D("100.03")  # 0.2 % taker, rounded up
    assert preview["total"] == D("50115.03")
    assert preview["available"] == D("100000") and preview["enough"]
    assert db.session.query(Order).count() == 0
