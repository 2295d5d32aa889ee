"""The order service's exact words and numbers: every validation message, the pair lookup, the
refusal of stops that would fire at once, the preview's figures, the hold an order takes,
cancelling (by the customer and by staff) and the reading queries."""

import logging
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.trading_helpers import balances, fund
from tradeapp.errors import IllegalTransition, NotFound, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import AuditLog, Hold, Order, Trade
from tradeapp.services.ledger import InsufficientFunds
from tradeapp.services.trading import orders

D = Decimal
FIX = "Please correct the highlighted fields."


@pytest.fixture()
def trader(create_user, pairs, market):
    user = create_user()
    fund(user, "USD", "100000")
    fund(user, "BTC", "2")
    market.set("BTC/USD", "50000", "50010", levels=5, size="0.5", step="10")
    return user


def refused(data) -> tuple[str, dict]:
    with pytest.raises(ValidationFailed) as error:
        orders.validate({"symbol": "BTC-USD", **data})
    return error.value.message, error.value.fields


# -- validate ----------------------------------------------------------------------------------------


def test_a_valid_order_is_typed(pairs):
    req = orders.validate(
        {"symbol": "BTC/USD", "side": " Buy ", "order_type": "LIMIT", "quantity": "0.5", "price": "49000.5"}
    )
    assert (req.pair.symbol, req.side, req.order_type) == ("BTC/USD", "buy", "limit")
    assert (req.quantity, req.price, req.stop_price) == (D("0.5"), D("49000.5"), None)
    assert (req.base, req.quote, req.spends) == ("BTC", "USD", "USD")
    sell = orders.validate({"symbol": "BTC-USD", "side": "sell", "quantity": "100"})
    assert (sell.order_type, sell.spends, sell.quantity) == ("market", "BTC", D("100"))
    assert orders.validate({"symbol": "BTC-USD", "side": "sell", "quantity": "0.0001"}).quantity == D("0.0001")


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"side": "hold", "quantity": "1"}, {"side": ["Choose buy or sell."]}),
        ({"side": "", "quantity": "1"}, {"side": ["Choose buy or sell."]}),
        (
            {"side": "buy", "order_type": "iceberg", "quantity": "1"},
            {"order_type": ["One of market, limit, stop_loss, take_profit."]},
        ),
        ({"side": "buy"}, {"quantity": ["Enter the quantity."]}),
        ({"side": "buy", "quantity": "-1"}, {"quantity": ["Must be greater than zero."]}),  # its one problem
        (
            {"side": "buy", "quantity": "abc"},
            {"quantity": ["Enter a valid number. Use digits and at most one dot, e.g. 100.50."]},
        ),
        ({"side": "buy", "quantity": "0.0000001"}, {"quantity": ["At most 6 decimal places."]}),
        ({"side": "buy", "quantity": "0.00009"}, {"quantity": ["At least 0.0001 BTC."]}),
        ({"side": "buy", "quantity": "100.000001"}, {"quantity": ["At most 100 BTC."]}),
        ({"side": "buy", "order_type": "limit", "quantity": "1"}, {"price": ["A limit order needs a price."]}),
        (
            {"side": "buy", "order_type": "limit", "quantity": "1", "price": "-5"},
            {"price": ["Must be greater than zero."]},
        ),
        (
            {"side": "sell", "order_type": "stop_loss", "quantity": "1", "stop_price": "x"},
            {"stop_price": ["Enter a valid number. Use digits and at most one dot, e.g. 100.50."]},
        ),
        (
            {"side": "buy", "order_type": "limit", "quantity": "1", "price": "1.001"},
            {"price": ["Use steps of 0.01 USD."]},
        ),
        (
            {"side": "buy", "order_type": "limit", "quantity": "1", "price": "100", "stop_price": "90"},
            {"stop_price": ["A limit order takes no stop price."]},
        ),
        (
            {"side": "sell", "order_type": "stop_loss", "quantity": "1"},
            {"stop_price": ["Enter the price that triggers this order."]},
        ),
        (
            {"side": "sell", "order_type": "stop_loss", "quantity": "1", "stop_price": "9.999"},
            {"stop_price": ["Use steps of 0.01 USD."]},
        ),
        (
            {"side": "sell", "order_type": "take_profit", "quantity": "1", "stop_price": "90", "price": "91"},
            {"price": ["Stop-loss and take-profit orders execute at market; leave price empty."]},
        ),
        ({"side": "buy", "quantity": "1", "price": "100"}, {"price": ["A market order takes no price."]}),
        (
            {"side": "buy", "quantity": "1", "stop_price": "100"},
            {"stop_price": ["A market order takes no stop price."]},
        ),
    ],
)
def test_each_bad_field_is_named_with_its_rule(pairs, data, fields):
    assert refused(data) == (FIX, fields)


def test_every_problem_is_listed_at_once(pairs):
    message, fields = refused({"side": "x", "order_type": "y", "quantity": "0.00001", "price": "1.001"})
    assert message == FIX
    assert fields == {
        "side": ["Choose buy or sell."],
        "order_type": ["One of market, limit, stop_loss, take_profit."],
        "quantity": ["At least 0.0001 BTC."],
        "price": ["Use steps of 0.01 USD."],
    }


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"symbol": ""}, {"symbol": ["Choose a trading pair."]}),
        ({"symbol": "DOGE-USD"}, {"symbol": ["No active trading pair DOGE/USD."]}),
        ({"trading_pair": "999"}, {"trading_pair": ["No active trading pair with this id."]}),
        ({"trading_pair": "1_0"}, {"trading_pair": ["No active trading pair with this id."]}),
        ({"trading_pair": True}, {"trading_pair": ["No active trading pair with this id."]}),
        ({"trading_pair": "9" * 19}, {"trading_pair": ["No active trading pair with this id."]}),
    ],
)
def test_an_unknown_pair_is_refused(pairs, data, fields):
    with pytest.raises(ValidationFailed) as error:
        orders.resolve_pair(data)
    assert (error.value.message, error.value.fields) == ("Invalid input.", fields)


def test_a_pair_is_found_by_id_or_symbol_and_must_be_active(pairs):
    btc = pairs["BTC/USD"]
    assert orders.resolve_pair({"trading_pair": btc.id}) is btc
    assert orders.resolve_pair({"trading_pair": str(btc.id), "symbol": "ETH-USD"}) is btc
    assert orders.resolve_pair({"trading_pair": "", "symbol": "eth-usd"}) is pairs["ETH/USD"]
    btc.is_active = False
    db.session.commit()
    with pytest.raises(ValidationFailed) as by_id:
        orders.resolve_pair({"trading_pair": btc.id})
    with pytest.raises(ValidationFailed) as by_symbol:
        orders.resolve_pair({"symbol": "BTC-USD"})
    assert by_id.value.fields == {"trading_pair": ["No active trading pair with this id."]}
    assert by_symbol.value.fields == {"symbol": ["No active trading pair BTC/USD."]}


# -- stops that would fire at once ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "order_type", "stop", "message"),
    [
        ("sell", "stop_loss", "50000", "A sell stop-loss must be below the current bid (50000)."),
        ("sell", "take_profit", "50000", "A sell take-profit must be above the current bid (50000)."),
        ("buy", "stop_loss", "50010", "A buy stop-loss must be above the current ask (50010)."),
        ("buy", "take_profit", "50010", "A buy take-profit must be below the current ask (50010)."),
    ],
)
def test_a_stop_at_the_current_price_is_refused(trader, side, order_type, stop, message):
    with pytest.raises(ValidationFailed) as error:
        orders.place_order(
            trader, {"symbol": "BTC-USD", "side": side, "order_type": order_type, "quantity": "0.1", "stop_price": stop}
        )
    assert (error.value.message, error.value.fields) == (FIX, {"stop_price": [message]})
    assert db.session.scalar(select(Order.id)) is None


@pytest.mark.parametrize(
    ("side", "order_type", "stop"),
    [
        ("sell", "stop_loss", "49999.99"),
        ("sell", "take_profit", "50000.01"),
        ("buy", "stop_loss", "50010.01"),
        ("buy", "take_profit", "50009.99"),
    ],
)
def test_a_stop_one_step_away_rests(trader, side, order_type, stop):
    order = orders.place_order(
        trader, {"symbol": "BTC-USD", "side": side, "order_type": order_type, "quantity": "0.1", "stop_price": stop}
    )
    assert (order.status, order.trigger_price) == ("open", D(stop))


# -- holds ------------------------------------------------------------------------------------------


def test_the_hold_of_each_kind_of_order(trader):
    def held(**data):
        order = orders.place_order(trader, {"symbol": "BTC-USD", "quantity": "0.1", **data})
        hold = db.session.get(Hold, order.hold_id)
        return order, (hold.amount, hold.reason, hold.reference)

    order, hold = held(side="buy", order_type="limit", price="40000")
    assert hold == (D("4008.00"), "order", f"order:{order.id}")  # 4000 + 0.2 % taker fee
    order, hold = held(side="buy", order_type="stop_loss", stop_price="51000")
    assert hold[0] == D("5151.00") + D("10.31")  # stop 51000 + 1 % slippage → 51510 × 0.1, + 0.2 % (10.302 up)
    order, hold = held(side="sell", order_type="limit", price="60000")
    assert hold == (D("0.1"), "order", f"order:{order.id}")
    assert balances(trader, "BTC") == (D("2"), D("0.1"))


def test_an_order_the_balance_cannot_cover_names_what_it_needs(trader):
    with pytest.raises(InsufficientFunds) as error:
        orders.place_order(
            trader, {"symbol": "BTC-USD", "side": "sell", "order_type": "limit", "quantity": "2.5", "price": "60000"}
        )
    assert error.value.message == "Insufficient available BTC balance: this order needs 2.5 BTC."
    assert error.value.fields == {"quantity": ["Needs 2.5 BTC; more than you have available."]}
    with pytest.raises(InsufficientFunds) as error:
        orders.place_order(
            trader, {"symbol": "BTC-USD", "side": "buy", "order_type": "limit", "quantity": "3", "price": "40000"}
        )
    assert error.value.message == "Insufficient available USD balance: this order needs 120240 USD."
    assert db.session.scalar(select(Order.id)) is None


def test_a_market_buy_with_no_offers_is_refused(trader, market):
    market.set_book("BTC/USD", bids=[["50000", "1"]], asks=[])
    with pytest.raises(ValidationFailed) as error:
        orders.place_order(trader, {"symbol": "BTC-USD", "side": "buy", "quantity": "0.1"})
    assert (error.value.message, error.value.fields) == (
        "There is no liquidity to buy from right now.",
        {"quantity": ["No offers."]},
    )


def test_a_market_order_that_finds_nothing_is_rejected_with_its_reason(trader, market):
    market.set_book("BTC/USD", bids=[], asks=[["50010", "1"]])
    order = orders.place_order(trader, {"symbol": "BTC-USD", "side": "sell", "quantity": "0.1"})
    assert (order.status, order.status_reason) == (
        "rejected",
        "No offers within the slippage limit; nothing was bought or sold.",
    )


def test_an_unknown_source_is_a_programming_error(trader):
    with pytest.raises(ValueError, match="^unknown order source 'fax'$"):
        orders.place_order(trader, {"symbol": "BTC-USD", "side": "buy", "quantity": "0.1"}, source="fax")


# -- cancelling -------------------------------------------------------------------------------------


def test_cancelling_says_who_cancelled_and_refuses_twice(trader, create_user):
    order = orders.place_order(
        trader, {"symbol": "BTC-USD", "side": "buy", "order_type": "limit", "quantity": "0.1", "price": "40000"}
    )
    with pytest.raises(NotFound, match="^No such order.$"):
        orders.cancel_order(create_user(), order.id)
    cancelled = orders.cancel_order(trader, order.id)
    assert (cancelled.status, cancelled.status_reason, cancelled.trigger_key, cancelled.trigger_price) == (
        "cancelled",
        "Cancelled by you.",
        None,
        None,
    )
    with pytest.raises(IllegalTransition, match="^This order is already cancelled.$"):
        orders.cancel_order(trader, order.id)
    assert balances(trader, "USD") == (D("100000"), 0)


def test_staff_cancel_needs_a_reason_and_is_audited(trader, create_staff):
    staff = create_staff()
    order = orders.place_order(
        trader, {"symbol": "BTC-USD", "side": "sell", "order_type": "limit", "quantity": "0.1", "price": "60000"}
    )
    for reason in ("", "   ", None):
        with pytest.raises(ValidationFailed) as error:
            orders.staff_cancel(staff, order.id, reason)
        assert (error.value.message, error.value.fields) == (
            "Give a reason.",
            {"reason": ["Say why the order is cancelled."]},
        )
    with pytest.raises(NotFound, match="^No such order.$"):
        orders.staff_cancel(staff, 999999, "gone")
    long_reason = "r" * 250
    cancelled = orders.staff_cancel(staff, order.id, f"  {long_reason}  ")
    assert cancelled.status_reason == f"Cancelled by the broker: {'r' * 200}"
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "order.cancel"))
    assert (audit.actor_id, audit.target_type, audit.target_id) == (staff.id, "orders", str(order.id))
    assert (audit.before, audit.after) == ({"status": "open"}, {"status": "cancelled", "reason": long_reason})
    assert balances(trader, "BTC") == (D("2"), 0)


def test_a_partially_filled_order_is_cancelled_by_its_words(trader, market):
    market.set_book("BTC/USD", bids=[["50000", "1"]], asks=[["50010", "0.05"], ["50100", "1"]])
    order = orders.place_order(
        trader, {"symbol": "BTC-USD", "side": "buy", "order_type": "limit", "quantity": "0.1", "price": "50050"}
    )
    assert order.status == "partially_filled"
    orders.cancel_order(trader, order.id)
    with pytest.raises(IllegalTransition, match="^This order is already cancelled.$"):
        orders.cancel_order(trader, order.id)
    filled = orders.place_order(trader, {"symbol": "BTC-USD", "side": "buy", "quantity": "0.01"})
    with pytest.raises(IllegalTransition, match="^This order is already filled.$"):
        orders.cancel_order(trader, filled.id)


# -- reading ------------------------------------------------------------------------------------------


def test_orders_and_trades_queries_filter_and_sort_newest_first(trader, create_user, pairs, market):
    market.set("ETH/USD", "3000", "3001", size="10")
    other = create_user()
    fund(other, "USD", "1000")
    theirs = orders.place_order(other, {"symbol": "BTC-USD", "side": "buy", "quantity": "0.001"})
    first = orders.place_order(trader, {"symbol": "BTC-USD", "side": "buy", "quantity": "0.01"})
    resting = orders.place_order(
        trader, {"symbol": "BTC-USD", "side": "buy", "order_type": "limit", "quantity": "0.1", "price": "40000"}
    )
    eth = orders.place_order(trader, {"symbol": "ETH-USD", "side": "buy", "quantity": "0.1"})

    def ids(query):
        return [o.id for o in db.session.scalars(query)]

    assert ids(orders.orders_query(trader)) == [eth.id, resting.id, first.id]
    assert ids(orders.orders_query(trader, status="open")) == [resting.id]
    assert ids(orders.orders_query(trader, pair=pairs["ETH/USD"])) == [eth.id]
    assert ids(orders.orders_query(trader, live=True)) == [resting.id]
    assert ids(orders.orders_query(trader, live=False)) == [eth.id, first.id]
    assert orders.get_order(trader, first.id).id == first.id
    with pytest.raises(NotFound, match="^No such order.$"):
        orders.get_order(trader, theirs.id)
    trades = [t.order_id for t in db.session.scalars(orders.trades_query(trader))]
    assert trades == [eth.id, first.id]
    assert [t.order_id for t in db.session.scalars(orders.trades_query(trader, pair=pairs["BTC/USD"]))] == [first.id]
    assert [t.order_id for t in db.session.scalars(orders.trades_query(trader, order_id=eth.id))] == [eth.id]


# -- preview ------------------------------------------------------------------------------------------


def preview(user, **data):
    return orders.preview_order(user, {"symbol": "BTC-USD", **data})


def test_a_market_sell_preview_walks_the_bids_and_pays_the_proceeds_less_the_fee(trader):
    p = preview(trader, side="sell", order_type="market", quantity="0.7")
    # 0.5 @ 50000 and 0.2 @ 49990: VWAP 49997.142857…; a sell's notional rounded down, the fee up
    assert p == {
        "symbol": "BTC/USD",
        "side": "sell",
        "order_type": "market",
        "quantity": D("0.7"),
        "price": D("49997.14"),
        "notional": D("34997.99"),  # 0.7 × the unrounded VWAP is 34997.999…
        "fee": D("70.00"),
        "fee_pct": D("0.2"),
        "fee_role": "taker",
        "total": D("34927.99"),
        "currency_spent": "BTC",
        "currency_received": "USD",
        "available": D("2"),
        "enough": True,
    }
    assert preview(trader, side="sell", order_type="market", quantity="2")["enough"] is True
    assert preview(trader, side="sell", order_type="market", quantity="2.000001")["enough"] is False


def test_a_buy_preview_is_enough_up_to_the_available_balance(trader, create_user):
    p = preview(trader, side="buy", order_type="limit", quantity="2", price="49000")
    assert (p["notional"], p["fee"], p["total"], p["currency_received"]) == (
        D("98000.00"),
        D("98.00"),
        D("98098.00"),
        "BTC",
    )
    assert p["enough"] is True
    exact = preview(trader, side="buy", order_type="limit", quantity="2.03", price="49211")  # 99898.33 + 99.90
    assert (exact["total"], exact["enough"]) == (D("99998.23"), True)
    assert preview(trader, side="buy", order_type="limit", quantity="2.05", price="49000")["enough"] is False
    nobody = create_user()
    assert (
        preview(nobody, side="buy", order_type="market", quantity="0.1")["available"],
        preview(nobody, side="buy", order_type="market", quantity="0.1")["enough"],
    ) == (0, False)


def test_a_buy_preview_rounds_the_notional_up(trader):
    p = preview(trader, side="buy", order_type="limit", quantity="0.0001", price="49000.01")
    assert (p["notional"], p["fee"]) == (D("4.91"), D("0.01"))  # 4.900001 up; 0.1 % maker fee 0.0049 up
    s = preview(trader, side="sell", order_type="limit", quantity="0.0001", price="60000.01")
    assert (s["notional"], s["fee"], s["total"]) == (D("6.00"), D("0.01"), D("5.99"))  # 6.000001 down


def test_stop_and_limit_previews_price_at_their_own_price(trader):
    stop = preview(trader, side="sell", order_type="stop_loss", quantity="1", stop_price="45000")
    assert (stop["price"], stop["notional"], stop["fee_role"]) == (D("45000.00"), D("45000.00"), "taker")
    limit = preview(trader, side="sell", order_type="limit", quantity="1", price="50001")
    assert (limit["price"], limit["fee_role"], limit["fee"]) == (D("50001.00"), "maker", D("50.01"))
    crossing = preview(trader, side="sell", order_type="limit", quantity="1", price="50000")
    assert (crossing["fee_role"], crossing["fee"]) == ("taker", D("100.00"))


def test_a_market_preview_with_an_empty_side_prices_at_the_quote(trader, market):
    market.set_book("BTC/USD", bids=[["50000", "1"]], asks=[])
    assert preview(trader, side="sell", order_type="market", quantity="0.1")["price"] == D("50000.00")
    market.set_book("BTC/USD", bids=[], asks=[["50010", "1"]])
    assert preview(trader, side="buy", order_type="market", quantity="0.1")["price"] == D("50010.00")
    limit = preview(trader, side="sell", order_type="limit", quantity="0.1", price="1")
    assert limit["fee_role"] == "maker"  # no bid to cross: it would rest


def test_a_market_preview_walks_only_the_first_twenty_levels(trader, market):
    market.set("BTC/USD", "50000", "50010", levels=25, size="0.1", step="10")
    p = preview(trader, side="buy", order_type="market", quantity="2.5")
    assert p["price"] == D("50105.00")  # the VWAP of levels 50010 … 50200, 0.1 each


def test_a_preview_works_on_a_stale_pair(trader, monkeypatch):
    import time

    from tradeapp.services.trading import prices

    published = {"symbol": "BTC/USD", "bid": "50000", "ask": "50010", "received_at": time.time() - 600}
    monkeypatch.setattr(prices, "last_quote", lambda symbol: published)
    monkeypatch.setattr(
        prices,
        "last_book",
        lambda symbol: {"bids": [["50000", "1"]], "asks": [["50010", "1"]], "received_at": time.time() - 600},
    )
    assert preview(trader, side="buy", order_type="market", quantity="0.1")["price"] == D("50010.00")


# -- closing positions and the order of the lists ---------------------------------------------------


def test_close_sells_what_the_owners_wallet_has_available(trader, create_user, market):
    from tradeapp.services.trading import positions

    owner = create_user()  # the fixture's trader holds 2 BTC in a wallet made before this one
    fund(owner, "USD", "100000")
    orders.place_order(owner, {"symbol": "BTC-USD", "side": "buy", "quantity": "0.5"})
    position = db.session.scalars(positions.positions_query(owner)).one()
    resting = orders.place_order(
        owner, {"symbol": "BTC-USD", "side": "sell", "order_type": "limit", "quantity": "0.3", "price": "60000"}
    )
    close = orders.close_position(owner, position.id)
    assert (close.side, close.order_type, close.quantity, close.position_id) == (
        "sell",
        "market",
        D("0.2"),
        position.id,
    )
    assert close.status == "filled"
    with pytest.raises(ValidationFailed) as error:
        orders.close_position(owner, position.id)
    assert (error.value.message, error.value.fields) == (
        "Nothing to close.",
        {"quantity": ["No BTC of this position is available (open sell orders may hold it)."]},
    )
    orders.cancel_order(owner, resting.id)
    orders.close_position(owner, position.id)
    with pytest.raises(IllegalTransition, match=r"^This position is already closed\.$"):
        orders.close_position(owner, position.id)
    assert balances(owner, "BTC") == (0, 0)


def test_lists_go_newest_first_and_by_id_within_the_same_instant(trader, market):
    from datetime import timedelta

    from tradeapp.models import Trade
    from tradeapp.models.types import utcnow

    first = orders.place_order(trader, {"symbol": "BTC-USD", "side": "buy", "quantity": "0.01"})
    second = orders.place_order(trader, {"symbol": "BTC-USD", "side": "buy", "quantity": "0.02"})
    third = orders.place_order(trader, {"symbol": "BTC-USD", "side": "buy", "quantity": "0.03"})
    now = utcnow()
    later = now + timedelta(hours=1)
    for order, at in ((first, later), (second, now), (third, now)):
        db.session.get(Order, order.id).created_at = at
        db.session.scalars(select(Trade).where(Trade.order_id == order.id)).one().executed_at = at
    db.session.commit()
    assert [o.id for o in db.session.scalars(orders.orders_query(trader))] == [first.id, third.id, second.id]
    assert [t.order_id for t in db.session.scalars(orders.trades_query(trader))] == [first.id, third.id, second.id]


@pytest.fixture()
def orders_log(caplog):
    """What the order service logs at INFO (Alembic's fileConfig disabled the loggers that existed before migrating)."""
    was_disabled = orders.log.disabled
    orders.log.disabled = False
    caplog.set_level(logging.INFO, logger=orders.log.name)
    yield caplog
    orders.log.disabled = was_disabled


def test_a_close_is_logged_with_who_closed_it(trader, orders_log):
    from tradeapp.services.trading import positions

    orders.place_order(trader, {"symbol": "BTC-USD", "side": "buy", "quantity": "0.5"})
    position = db.session.scalars(positions.positions_query(trader)).one()
    close = orders.close_position(trader, position.id)
    assert f"position {position.id} closed by order {close.id} (Closed by you.)" in orders_log.messages


def test_protection_reads_the_position_again_under_its_lock(trader, market):
    from sqlalchemy import update

    from tradeapp.models import Position
    from tradeapp.services.trading import positions

    orders.place_order(trader, {"symbol": "BTC-USD", "side": "buy", "quantity": "0.5"})
    position = db.session.scalars(positions.positions_query(trader)).one()
    positions.set_protection(trader, position.id, {"stop_loss": "49000"})
    position = db.session.get(Position, position.id)
    assert position.stop_loss == D("49000")  # the session's copy
    db.session.execute(
        update(Position)
        .where(Position.id == position.id)
        .values(stop_loss=None)
        .execution_options(synchronize_session=False)
    )
    assert orders.fire_protection(position.id, D("48000")) is None
    assert db.session.scalar(select(Order.id).where(Order.position_id == position.id)) is None


def test_a_preview_falls_back_to_the_quote_when_the_book_side_is_empty(trader, monkeypatch):
    import time

    from tradeapp.services.trading import prices

    now = time.time()
    monkeypatch.setattr(prices, "last_quote", lambda symbol: {"bid": "50000", "ask": "50010", "received_at": now})
    monkeypatch.setattr(prices, "last_book", lambda symbol: {"bids": [], "asks": [], "received_at": now})
    assert preview(trader, side="buy", order_type="market", quantity="0.1")["price"] == D("50010.00")
    assert preview(trader, side="sell", order_type="market", quantity="0.1")["price"] == D("50000.00")


def test_a_buy_limit_between_the_bid_and_the_ask_would_rest(trader):
    p = preview(trader, side="buy", order_type="limit", quantity="1", price="50005")
    assert (p["fee_role"], p["fee"]) == ("maker", D("50.01"))


def test_a_buy_preview_is_enough_at_exactly_the_total(create_user, pairs, market):
    market.set("BTC/USD", "50000", "50010", size="5")
    exact, short = create_user(), create_user()
    fund(exact, "USD", "98098.00")
    fund(short, "USD", "98000.00")
    data = {"side": "buy", "order_type": "limit", "quantity": "2", "price": "49000"}  # 98000 + 98 maker fee
    assert preview(exact, **data)["enough"] is True
    assert preview(short, **data)["enough"] is False


@pytest.mark.parametrize(("bid", "which"), [("48000", "stop-loss"), ("53000", "take-profit")])
def test_fired_protection_tells_the_owner_which_one_fired(trader, market, bid, which):
    from tradeapp.models import Notification
    from tradeapp.services.trading import positions

    orders.place_order(trader, {"symbol": "BTC-USD", "side": "buy", "quantity": "0.5"})
    position = db.session.scalars(positions.positions_query(trader)).one()
    positions.set_protection(trader, position.id, {"stop_loss": "49000", "take_profit": "52000"})
    market.set("BTC/USD", bid, str(D(bid) + 10), size="1", step="10")
    order = orders.fire_protection(position.id, D(bid))
    assert (order.status, order.source) == ("filled", "manual")
    note = db.session.scalars(select(Notification).where(Notification.user_id == trader.id)).one()
    assert note.body == f"Your position's {which} fired: order #{order.id} on BTC/USD filled."


def test_protection_held_up_by_open_sells_is_logged_and_kept(trader, market, orders_log):
    from tradeapp.services.trading import positions

    orders.place_order(trader, {"symbol": "BTC-USD", "side": "buy", "quantity": "0.5"})
    position = db.session.scalars(positions.positions_query(trader)).one()
    positions.set_protection(trader, position.id, {"stop_loss": "49000"})
    orders.place_order(
        trader, {"symbol": "BTC-USD", "side": "sell", "order_type": "limit", "quantity": "2.5", "price": "60000"}
    )
    assert orders.fire_protection(position.id, D("48000")) is None
    assert (
        f"position {position.id}: stop-loss hit but open sell orders hold all of it; kept for the next tick"
        in orders_log.messages
    )


def test_a_close_rounds_what_is_available_down_to_the_quantity_step(trader, create_user, market):
    from tradeapp.services import ledger
    from tradeapp.services.ledger import Leg
    from tradeapp.services.trading import positions

    owner = create_user()
    fund(owner, "USD", "100000")
    orders.place_order(owner, {"symbol": "BTC-USD", "side": "buy", "quantity": "0.5"})
    position = db.session.scalars(positions.positions_query(owner)).one()
    orders.place_order(
        owner, {"symbol": "BTC-USD", "side": "sell", "order_type": "limit", "quantity": "0.3", "price": "60000"}
    )
    wallet = ledger.wallet_for(owner, "BTC")  # 0.00000005 BTC paid out: 0.19999995 is available, finer than the step
    ledger.post(
        "adjustment",
        [Leg(wallet, D("-0.00000005")), Leg(ledger.platform_account("adjustments", "BTC"), D("0.00000005"))],
    )
    db.session.commit()
    close = orders.close_position(owner, position.id)
    assert (close.status, close.quantity) == ("filled", D("0.199999"))
    assert balances(owner, "BTC") == (D("0.30000095"), D("0.3"))


def test_a_frozen_accounts_protection_still_fires_but_the_owner_cannot_close(trader, market):
    from datetime import UTC, datetime

    from tradeapp.models import AccountControl
    from tradeapp.services.compliance import AccountFrozen
    from tradeapp.services.trading import positions

    orders.place_order(trader, {"symbol": "BTC-USD", "side": "buy", "quantity": "0.5"})
    position = db.session.scalars(positions.positions_query(trader)).one()
    positions.set_protection(trader, position.id, {"stop_loss": "49000"})
    db.session.add(AccountControl(user_id=trader.id, frozen_at=datetime.now(UTC), frozen_reason="test"))
    db.session.commit()
    with pytest.raises(AccountFrozen, match=r"^Your account is frozen, so you cannot trade right now\. Please"):
        orders.close_position(trader, position.id)
    market.set("BTC/USD", "48000", "48010", size="1", step="10")
    order = orders.fire_protection(position.id, D("48000"))
    assert (order.status, order.side, order.quantity, order.position_id) == ("filled", "sell", D("0.5"), position.id)
    assert balances(trader, "BTC") == (D("2"), 0)


def test_the_trigger_check_settles_at_most_a_batch_and_counts_what_executed(trader, market):
    placed = [
        orders.place_order(
            trader, {"symbol": "BTC-USD", "side": "buy", "order_type": "limit", "quantity": "0.1", "price": price}
        )
        for price in ("49000", "48990", "48980")
    ]
    assert {o.status for o in placed} == {"open"}
    market.set("BTC/USD", "48960", "48970", size="1", step="10")  # the ask falls below all three
    assert orders.check_triggers("BTC/USD", batch=2) == 2
    db.session.expire_all()
    assert sorted(db.session.get(Order, o.id).status for o in placed) == ["filled", "filled", "open"]
    assert orders.check_triggers("BTC/USD") == 1
    db.session.expire_all()
    assert {db.session.get(Order, o.id).status for o in placed} == {"filled"}


def test_an_order_records_what_placed_it(trader):
    order = orders.place_order(
        trader, {"symbol": "BTC-USD", "side": "buy", "quantity": "0.01"}, source="bot", source_id=7
    )
    stored = db.session.get(Order, order.id)
    assert (stored.source, stored.source_id, stored.status) == ("bot", 7, "filled")
    data = {"symbol": "BTC-USD", "side": "buy", "order_type": "limit", "quantity": "0.01", "price": "40000"}
    resting = orders.place_order(trader, data, source="signal", source_id=8)
    stored = db.session.get(Order, resting.id)
    assert (stored.source, stored.source_id, stored.status) == ("signal", 8, "open")


def test_a_triggered_stop_walks_only_the_first_twenty_levels(trader, market):
    stop = orders.place_order(
        trader, {"symbol": "BTC-USD", "side": "sell", "order_type": "stop_loss", "quantity": "2", "stop_price": "49000"}
    )
    market.set("BTC/USD", "48990", "49000", levels=25, size="0.05", step="10")  # 1 BTC in the first twenty bids
    assert orders.check_triggers("BTC/USD") == 1
    db.session.expire_all()
    stop = db.session.get(Order, stop.id)
    assert stop.filled_quantity == D("1")
    assert balances(trader, "BTC") == (D("1"), 0)


def test_a_market_order_walks_only_the_first_twenty_levels(trader, market):
    market.set("BTC/USD", "49990", "50000", levels=25, size="0.05", step="10")  # 1 BTC in the first twenty bids
    order = orders.place_order(trader, {"symbol": "BTC-USD", "side": "sell", "quantity": "2"})
    assert order.filled_quantity == D("1")
    assert balances(trader, "BTC") == (D("1"), 0)


def test_a_marketable_limit_order_walks_only_the_first_twenty_levels(trader, market):
    market.set("BTC/USD", "49990", "50000", levels=25, size="0.05", step="10")  # 1 BTC in the first twenty asks
    data = {"symbol": "BTC-USD", "side": "buy", "order_type": "limit", "quantity": "1.5", "price": "60000"}
    order = orders.place_order(trader, data)
    stored = db.session.get(Order, order.id)
    assert (stored.filled_quantity, stored.status) == (D("1"), "partially_filled")


def _limit_on_a_stepped_book(trader, market, side, price, quantity):
    """A limit order on bids 50000, 49990, … and asks 50010, 50020, … (1 each): it and its trades."""
    market.set("BTC/USD", "50000", "50010", size="1", step="10")
    data = {"symbol": "BTC-USD", "side": side, "order_type": "limit", "quantity": quantity, "price": price}
    order = orders.place_order(trader, data)
    stored = db.session.get(Order, order.id)
    return stored, db.session.scalars(select(Trade).where(Trade.order_id == order.id)).all()


@pytest.mark.parametrize(("side", "price"), [("buy", "50010"), ("sell", "50000")])
def test_a_limit_order_at_exactly_the_best_price_fills_at_once_as_taker(trader, market, side, price):
    stored, trades = _limit_on_a_stepped_book(trader, market, side, price, "0.1")
    assert (stored.status, stored.filled_quantity) == ("filled", D("0.1"))
    assert [(t.price, t.liquidity) for t in trades] == [(D(price), "taker")]


@pytest.mark.parametrize(
    ("side", "price", "fill_price"),
    [("buy", "50015", "50010"), ("sell", "49995", "50000")],
)
def test_a_limit_order_beyond_the_best_price_fills_there_and_rests_what_is_beyond_its_limit(
    trader, market, side, price, fill_price
):
    # The limit is past the best price on its own side: the order fills there at once (as taker)
    # but never at a price beyond its limit.
    stored, trades = _limit_on_a_stepped_book(trader, market, side, price, "1.5")
    assert (stored.status, stored.filled_quantity) == ("partially_filled", D("1"))
    assert [(t.price, t.quantity, t.liquidity) for t in trades] == [(D(fill_price), D("1"), "taker")]


@pytest.mark.parametrize(("side", "price"), [("buy", "50009"), ("sell", "50001")])
def test_a_limit_order_short_of_the_best_price_rests(trader, market, side, price):
    stored, trades = _limit_on_a_stepped_book(trader, market, side, price, "0.1")
    assert (stored.status, stored.filled_quantity) == ("open", 0)
    assert trades == []
