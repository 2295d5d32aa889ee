"""Thin branches of the order engine: position protection (guards and rollback), trigger keys and
crossing rules, market caps, a sell paid less than its fee, cancelling and reading orders."""

from decimal import Decimal

import pytest
from sqlalchemy import select, update

from tests.faults import InjectedFailure
from tests.trading_helpers import balances, fund
from tradeapp.errors import IllegalTransition, NotFound, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import Hold, Order, Position, Trade, TradingPair
from tradeapp.services import ledger
from tradeapp.services.trading import execution, orders, positions
from tradeapp.services.trading.pairs import get_pair

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


def fresh(model, ident):
    db.session.expire_all()
    row = db.session.get(model, ident)
    db.session.rollback()
    return row


@pytest.fixture()
def protected(trader, market):
    """A 0.5 BTC long bought at 50010, stop-loss 49000 and take-profit 52000."""
    place(trader, side="buy", order_type="market", quantity="0.5")
    position = db.session.scalars(positions.positions_query(trader)).one()
    positions.set_protection(trader, position.id, {"stop_loss": "49000", "take_profit": "52000"})
    return position.id


# -- orders.fire_protection ---------------------------------------------------------------------------


def test_fire_protection_ignores_unknown_closed_and_uncrossed_positions(trader, market, protected):
    assert orders.fire_protection(999999, D("1")) is None
    assert orders.fire_protection(protected, D("49000.01")) is None  # above the stop, below the target
    assert orders.fire_protection(protected, D("51999.99")) is None
    position = fresh(Position, protected)
    assert (position.stop_loss, position.take_profit) == (D("49000"), D("52000"))
    orders.close_position(trader, protected)
    assert fresh(Position, protected).quantity == 0
    assert orders.fire_protection(protected, D("40000")) is None  # closed: nothing left to protect
    assert db.session.query(Order).filter(Order.position_id.is_not(None)).count() == 1  # only the manual close


@pytest.mark.parametrize(("bid", "which"), [("49000", "stop-loss"), ("52000", "take-profit")])
def test_fire_protection_at_the_trigger_price_sells_the_position_once(trader, market, protected, bid, which):
    market.set("BTC/USD", bid, str(D(bid) + 10), size="1", step="10")
    order = orders.fire_protection(protected, D(bid))
    assert order is not None and order.status == "filled" and order.source == "manual"
    assert order.position_id == protected
    assert order.position_id == protected and order.quantity == D("0.5")
    position = fresh(Position, protected)
    assert position.quantity == 0 and position.stop_loss is None and position.take_profit is None
    assert orders.fire_protection(protected, D(bid)) is None
    assert balances(trader, "BTC") == (D("2"), 0)
    assert ledger.check().ok


def test_fire_protection_sells_only_what_open_orders_leave_available(trader, market, protected):
    place(trader, side="sell", order_type="limit", quantity="2.3", price="60000")  # holds 2.3 of the 2.5 BTC
    market.set("BTC/USD", "48900", "48910", size="1", step="10")
    order = orders.fire_protection(protected, D("48900"))
    assert order.status == "filled" and order.quantity == D("0.2")
    assert fresh(Position, protected).quantity == D("0.3")
    assert balances(trader, "BTC") == (D("2.3"), D("2.3"))
    assert ledger.check().ok


def test_a_stop_that_cannot_sell_yet_is_kept_for_the_next_tick(trader, market, protected):
    """Open sell orders hold every coin: nothing is sold now, and the stop is not lost."""
    resting = place(trader, side="sell", order_type="limit", quantity="2.5", price="60000")
    market.set("BTC/USD", "48900", "48910", size="1", step="10")
    assert orders.fire_protection(protected, D("48900")) is None
    position = fresh(Position, protected)
    assert (position.quantity, position.stop_loss, position.take_profit) == (D("0.5"), D("49000"), D("52000"))
    orders.cancel_order(trader, resting.id)
    order = orders.fire_protection(protected, D("48900"))
    assert order.status == "filled" and order.position_id == protected
    assert fresh(Position, protected).quantity == 0
    assert ledger.check().ok


def test_a_failed_commit_while_firing_keeps_the_protection(trader, market, protected, failing_commit):
    market.set("BTC/USD", "48900", "48910", size="1", step="10")
    failing_commit()
    with pytest.raises(InjectedFailure):
        orders.fire_protection(protected, D("48900"))
    db.session.commit()
    position = fresh(Position, protected)
    assert (position.quantity, position.stop_loss) == (D("0.5"), D("49000"))
    assert db.session.query(Order).filter(Order.position_id.is_not(None)).count() == 0
    # the next tick fires it
    assert orders.check_triggers("BTC/USD") == 0  # no order crossed; the position fires alongside
    assert fresh(Position, protected).quantity == 0
    assert ledger.check().ok


# -- trigger keys and crossing rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order_type", "side", "key"),
    [
        ("limit", "buy", "buy_down"),
        ("limit", "sell", "sell_up"),
        ("stop_loss", "sell", "sell_down"),
        ("stop_loss", "buy", "buy_up"),
        ("take_profit", "sell", "sell_up"),
        ("take_profit", "buy", "buy_down"),
    ],
)
def test_trigger_keys(order_type, side, key):
    assert execution.trigger_key(order_type, side) == key


@pytest.mark.parametrize(
    ("key", "trigger", "bid", "ask", "crossed"),
    [
        ("buy_down", "100", "98", "100", True),  # the ask reached the limit
        ("buy_down", "100", "100", "100.01", False),  # the bid does not count for a buy
        ("sell_up", "100", "100", "101", True),
        ("sell_up", "100", "99.99", "200", False),
        ("sell_down", "100", "100", "101", True),
        ("sell_down", "100", "100.01", "50", False),
        ("buy_up", "100", "1", "100", True),
        ("buy_up", "100", "200", "99.99", False),
        ("buy_down", "100", "90", None, False),  # no ask at all: a buy cannot cross
        ("sell_up", "100", None, "110", False),
    ],
)
def test_is_crossed(key, trigger, bid, ask, crossed):
    dec = lambda v: None if v is None else D(v)  # noqa: E731
    assert execution.is_crossed(key, D(trigger), dec(bid), dec(ask)) is crossed


def test_crossed_order_ids_best_price_first_across_keys_and_limited(trader, market, create_user):
    buys = [place(trader, side="buy", order_type="limit", quantity="0.01", price=p).id for p in ("49000", "49500")]
    sells = [place(trader, side="sell", order_type="limit", quantity="0.01", price=p).id for p in ("50600", "50500")]
    stop = place(trader, side="sell", order_type="stop_loss", quantity="0.01", stop_price="49800").id
    uncrossed = place(trader, side="buy", order_type="limit", quantity="0.01", price="40000").id
    pair_id = get_pair("BTC-USD").id
    db.session.rollback()
    # bid 50700 crosses both sells; ask 48000 crosses both buys; the stop watches the bid (not crossed)
    got = execution.crossed_order_ids(pair_id, D("50700"), D("48000"))
    assert got == [buys[1], buys[0], sells[1], sells[0]]
    assert uncrossed not in got and stop not in got
    assert execution.crossed_order_ids(pair_id, D("49700"), D("49400"), limit=1) == [buys[1]]
    assert execution.crossed_order_ids(pair_id, D("49700"), None) == [stop]  # no ask: buys are skipped
    assert execution.crossed_order_ids(pair_id, None, None) == []


# -- market caps -----------------------------------------------------------------------------------


def test_market_caps_follow_the_slippage_limit_and_the_stop_cover(app, trader):
    pair = get_pair("BTC-USD")
    slippage = app.config["ORDER_MAX_SLIPPAGE"]
    book = {"asks": [[D("50010"), D("1")]], "bids": [[D("50000"), D("1")]]}
    buy = Order(pair=pair, side="buy", order_type="market", quantity=D("1"))
    sell = Order(pair=pair, side="sell", order_type="market", quantity=D("1"))
    assert execution.market_cap(buy, book) == (D("50010") * (1 + slippage)).quantize(D("0.01"), "ROUND_DOWN")
    assert execution.market_cap(sell, book) == (D("50000") * (1 - slippage)).quantize(D("0.01"), "ROUND_DOWN") + D(
        "0.01"
    )
    stop_buy = Order(pair=pair, side="buy", order_type="stop_loss", quantity=D("1"), stop_price=D("49000"))
    assert execution.market_cap(stop_buy, book) == execution.stop_cover(D("49000"), D("0.01"))
    assert execution.market_cap(buy, {"asks": [], "bids": book["bids"]}) is None
    assert execution.market_cap(sell, {"asks": book["asks"], "bids": []}) is None
    db.session.rollback()


def test_a_sell_whose_fee_eats_the_whole_notional_pays_nothing_and_books_the_fee(trader, market):
    db.session.execute(update(TradingPair).where(TradingPair.symbol == "BTC/USD").values(taker_fee=D("100")))
    db.session.commit()
    market.set("BTC/USD", "1", "2", size="1", step="0")
    order = place(trader, side="sell", order_type="market", quantity="0.005")  # notional 0.005 → 0.00
    assert order.status == "filled"
    trade = db.session.scalars(select(Trade).where(Trade.order_id == order.id)).one()
    assert (trade.notional, trade.fee) == (0, 0)
    assert balances(trader, "USD") == (D("100000"), 0)
    assert balances(trader, "BTC") == (D("1.995"), 0)
    assert ledger.check().ok


# -- cancelling and reading ------------------------------------------------------------------------------


def test_cancel_releases_the_hold_and_refuses_twice_and_filled_orders(trader, create_user):
    order = place(trader, side="buy", order_type="limit", quantity="0.5", price="49000")
    with pytest.raises(NotFound):
        orders.cancel_order(create_user(), order.id)
    cancelled = orders.cancel_order(trader, order.id)
    assert cancelled.status == "cancelled" and cancelled.trigger_key is None
    assert fresh(Hold, fresh(Order, order.id).hold_id).status == "released"
    assert balances(trader, "USD") == (D("100000"), 0)
    with pytest.raises(IllegalTransition):
        orders.cancel_order(trader, order.id)
    filled = place(trader, side="buy", order_type="market", quantity="0.1")
    with pytest.raises(IllegalTransition):
        orders.cancel_order(trader, filled.id)
    assert ledger.check().ok


def test_staff_cancel_needs_a_reason_and_audits(trader, create_staff):
    from tradeapp.models import AuditLog

    order = place(trader, side="sell", order_type="limit", quantity="0.5", price="60000")
    staff = create_staff(role="admin")
    with pytest.raises(ValidationFailed):
        orders.staff_cancel(staff, order.id, "   ")
    assert fresh(Order, order.id).status == "open"
    orders.staff_cancel(staff, order.id, "Fat finger")
    order = fresh(Order, order.id)
    assert order.status == "cancelled" and "Fat finger" in (order.status_reason or "")
    assert db.session.scalar(select(AuditLog).where(AuditLog.actor_id == staff.id)) is not None
    assert balances(trader, "BTC") == (D("2"), 0)
