"""The order engine's failure paths: stale pairs, a broken order among good ones, the guards and
rollback of a resting execution, a fill larger than its hold, and a repeat that reaches the lock."""

import logging
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from tests.concurrency import race
from tests.trading_helpers import balances, fund
from tradeapp.errors import DomainError, IllegalTransition
from tradeapp.extensions import db
from tradeapp.models import Hold, Order, Trade, TradingPair
from tradeapp.services import ledger
from tradeapp.services.trading import execution, orders, prices
from tradeapp.services.trading.pairs import get_pair

D = Decimal


@pytest.fixture()
def trader(create_user, pairs, market):
    user = create_user()
    fund(user, "USD", "100000")
    fund(user, "BTC", "2")
    market.set("BTC/USD", "50000", "50010", levels=5, size="0.5", step="10")
    return user


@pytest.fixture()
def engine_log(caplog):
    """What the order engine logs (Alembic's fileConfig disabled the loggers that existed before migrating)."""
    loggers = (execution.log, orders.log)
    was_disabled = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = False
        caplog.set_level(logging.WARNING, logger=logger.name)
    yield caplog
    for logger, disabled in zip(loggers, was_disabled, strict=True):
        logger.disabled = disabled


def place(user, **data):
    data.setdefault("symbol", "BTC-USD")
    return orders.place_order(user, data)


def fresh(model, ident):
    db.session.expire_all()
    row = db.session.get(model, ident)
    db.session.rollback()
    return row


def trades_of(order_id) -> int:
    count = db.session.scalar(select(func.count()).select_from(Trade).where(Trade.order_id == order_id))
    db.session.rollback()
    return count


def snapshot():
    """The quote and book a trigger check would read now (fresh ones)."""
    pair = get_pair("BTC-USD")
    quote, book = prices.live_quote(pair), prices.live_book(pair)
    db.session.rollback()
    return quote, book


def held(order_id) -> tuple[str, Decimal]:
    order = fresh(Order, order_id)
    hold = fresh(Hold, order.hold_id)
    return hold.status, hold.remaining


# -- the trigger check ---------------------------------------------------------------------------------


def test_a_stale_pair_settles_nothing_until_prices_are_fresh_again(trader, market, monkeypatch, engine_log):
    order = place(trader, side="buy", order_type="limit", quantity="0.5", price="49000")
    hold_before = held(order.id)
    market.set("BTC/USD", "48980", "48990", size="1", step="10")  # crossed, but the feed is failing
    monkeypatch.setattr(prices, "pair_status", lambda symbol: {"failures": 2, "last_error": "timeout"})
    assert orders.check_triggers("BTC/USD") == 0
    assert "trigger check of BTC/USD skipped" in engine_log.text
    assert fresh(Order, order.id).status == "open" and trades_of(order.id) == 0
    assert held(order.id) == hold_before
    monkeypatch.undo()
    assert orders.check_triggers("BTC/USD") == 1
    assert fresh(Order, order.id).status == "filled"
    assert ledger.check().ok


def test_a_pair_without_market_data_settles_nothing(trader, market):
    order = place(trader, side="sell", order_type="limit", quantity="0.5", price="50500")
    market.books.pop("BTC/USD")
    assert orders.check_triggers("BTC/USD") == 0
    assert fresh(Order, order.id).status == "open"
    assert balances(trader, "BTC") == (D("2"), D("0.5"))


def test_inactive_and_unknown_pairs_settle_nothing(trader, market):
    order = place(trader, side="buy", order_type="limit", quantity="0.5", price="49000")
    market.set("BTC/USD", "48980", "48990", size="1", step="10")
    db.session.execute(update(TradingPair).where(TradingPair.symbol == "BTC/USD").values(is_active=False))
    db.session.commit()
    assert orders.check_triggers("BTC/USD") == 0
    assert orders.check_triggers("DOGE/USD") == 0
    assert fresh(Order, order.id).status == "open"


def test_one_broken_order_does_not_block_the_others(trader, create_user, market, engine_log):
    other = create_user()
    fund(other, "USD", "100000")
    broken = place(trader, side="buy", order_type="limit", quantity="0.5", price="49500")  # crossed first
    good = place(other, side="buy", order_type="limit", quantity="0.5", price="49000")
    broken_hold = fresh(Order, broken.id).hold_id
    # Break the first order's hold behind the engine's back: settling out of it is now illegal.
    db.session.execute(update(Hold).where(Hold.id == broken_hold).values(status="posted"))
    db.session.commit()
    market.set("BTC/USD", "48980", "48990", size="5", step="10")
    assert orders.check_triggers("BTC/USD") == 1
    assert f"order {broken.id} failed" in engine_log.text
    assert fresh(Order, good.id).status == "filled"
    assert balances(other, "BTC") == (D("0.5"), 0)
    # the broken order's transaction was rolled back whole: no trade, no coins, nothing spent
    assert fresh(Order, broken.id).status == "open" and trades_of(broken.id) == 0
    assert balances(trader, "BTC") == (D("2"), 0)
    assert balances(trader, "USD") == (D("100000"), D("24799.50"))  # 0.5 × 49500 + 0.2 % fee
    # mended, it fills on the next tick like any other
    db.session.execute(update(Hold).where(Hold.id == broken_hold).values(status="active"))
    db.session.commit()
    assert orders.check_triggers("BTC/USD") == 1
    assert fresh(Order, broken.id).status == "filled"
    assert ledger.check().ok


# -- execute_resting: guards and rollback -------------------------------------------------------------


def test_execute_resting_refuses_unknown_cancelled_and_uncrossed_orders(trader, market):
    resting = place(trader, side="buy", order_type="limit", quantity="0.5", price="49000")
    cancelled = place(trader, side="buy", order_type="limit", quantity="0.1", price="48000")
    orders.cancel_order(trader, cancelled.id)
    quote, book = snapshot()  # 50000/50010: crosses neither
    assert execution.execute_resting(999999, quote, book) is False
    assert execution.execute_resting(resting.id, quote, book) is False
    market.set("BTC/USD", "47980", "47990", size="5", step="10")
    quote, book = snapshot()
    assert execution.execute_resting(cancelled.id, quote, book) is False
    assert fresh(Order, cancelled.id).status == "cancelled" and trades_of(cancelled.id) == 0
    assert execution.execute_resting(resting.id, quote, book) is True
    assert fresh(Order, resting.id).status == "filled"
    assert ledger.check().ok


def test_a_crossed_quote_with_no_offer_in_the_book_fills_nothing_and_keeps_the_hold(trader, market):
    order = place(trader, side="buy", order_type="limit", quantity="0.5", price="49000")
    before = held(order.id)
    # The quote says the ask fell to 48990, but the book (read a moment later) has moved back up.
    market.set("BTC/USD", "48980", "48990", size="1", step="10")
    quote, _ = snapshot()
    market.set("BTC/USD", "50000", "50010", size="1", step="10")
    _, book = snapshot()
    assert execution.execute_resting(order.id, quote, book) is False
    order = fresh(Order, order.id)
    assert order.status == "open" and order.filled_quantity == 0 and order.trigger_key == "buy_down"
    assert held(order.id) == before
    assert ledger.check().ok


def test_a_triggered_stop_with_no_offer_in_reach_is_rejected_and_releases_its_hold(trader, market):
    order = place(trader, side="sell", order_type="stop_loss", quantity="0.5", stop_price="49500")
    assert balances(trader, "BTC") == (D("2"), D("0.5"))
    market.set_book("BTC/USD", bids=[["49400", "1"]], asks=[["49410", "1"]])
    quote, _ = snapshot()
    market.set_book("BTC/USD", bids=[], asks=[["49410", "1"]])  # the bids vanished before it could sell
    _, book = snapshot()
    assert execution.execute_resting(order.id, quote, book) is True
    order = fresh(Order, order.id)
    assert order.status == "rejected" and "slippage" in order.status_reason
    assert order.triggered_at is not None and order.trigger_key is None
    assert balances(trader, "BTC") == (D("2"), 0)
    assert held(order.id) == ("released", 0)
    assert ledger.check().ok


def test_an_execution_that_fails_midway_is_rolled_back_whole(trader, market):
    order = place(trader, side="sell", order_type="limit", quantity="1", price="50100")
    hold_id = fresh(Order, order.id).hold_id
    db.session.execute(update(Hold).where(Hold.id == hold_id).values(status="released"))
    db.session.commit()
    market.set_book("BTC/USD", bids=[["50150", "0.4"], ["50120", "5"]], asks=[["50160", "1"]])
    quote, book = snapshot()
    with pytest.raises(IllegalTransition):
        execution.execute_resting(order.id, quote, book)
    order = fresh(Order, order.id)
    assert order.status == "open" and order.filled_quantity == 0 and trades_of(order.id) == 0
    assert balances(trader, "BTC") == (D("2"), D("1"))
    assert balances(trader, "USD") == (D("100000"), 0)
    # the session is usable again, and so is the order once its hold is mended
    db.session.execute(update(Hold).where(Hold.id == hold_id).values(status="active"))
    db.session.commit()
    assert execution.execute_resting(order.id, quote, book) is True
    assert fresh(Order, order.id).status == "filled"
    assert ledger.check().ok


# -- a fill larger than what the order holds ----------------------------------------------------------


def test_a_fill_that_would_exceed_the_hold_is_refused_and_the_order_keeps_resting(trader, market, engine_log):
    order = place(trader, side="buy", order_type="limit", quantity="0.5", price="49000")
    assert balances(trader, "USD")[1] == D("24549.00")  # 24500 notional + 0.2 % taker fee
    # Staff raise the maker fee while the order rests: filling it now would cost more than it holds.
    db.session.execute(update(TradingPair).where(TradingPair.symbol == "BTC/USD").values(maker_fee=D("5")))
    db.session.commit()
    market.set("BTC/USD", "48990", "49000", size="1", step="10")
    assert orders.check_triggers("BTC/USD") == 0
    # the operator's alert names the order and what the fill would have cost: 24500 + 5 % = 25725
    refused = [r.getMessage() for r in engine_log.records if r.levelname == "ERROR"]
    assert refused == [f"order {order.id}: fill of 25725.00 would exceed its hold; skipped"]
    assert fresh(Order, order.id).status == "open" and trades_of(order.id) == 0
    assert balances(trader, "USD") == (D("100000"), D("24549.00"))
    assert ledger.check().ok


def test_the_hold_guard_stops_a_walk_between_two_levels(trader, market):
    order = place(trader, side="buy", order_type="limit", quantity="0.5", price="49000")
    db.session.execute(update(TradingPair).where(TradingPair.symbol == "BTC/USD").values(maker_fee=D("1")))
    db.session.commit()
    market.set_book("BTC/USD", bids=[["47990", "1"]], asks=[["48000", "0.1"], ["48990", "1"]])
    assert orders.check_triggers("BTC/USD") == 1
    order = fresh(Order, order.id)
    # 0.1 @ 48000 costs 4800 + 48 fee; 0.4 @ 48990 would cost 19596 + 195.96 > the 19701 left
    assert order.status == "partially_filled" and order.filled_quantity == D("0.1")
    assert held(order.id) == ("active", D("24549.00") - D("4848.00"))
    assert balances(trader, "BTC") == (D("2.1"), 0)
    assert balances(trader, "USD") == (D("100000") - D("4848.00"), D("19701.00"))
    assert ledger.check().ok


# -- safe to run twice, through the lock ----------------------------------------------------------------


def test_a_repeated_execution_of_an_already_filled_order_is_refused_under_its_lock(trader, market):
    order = place(trader, side="buy", order_type="limit", quantity="0.5", price="49000")
    market.set("BTC/USD", "48980", "48990", size="1", step="10")
    quote, book = snapshot()
    # Two trigger checks read the same crossed orders before either settled them.
    pair = get_pair("BTC-USD")
    first_read = execution.crossed_order_ids(pair.id, quote["bid"], quote["ask"])
    second_read = execution.crossed_order_ids(pair.id, quote["bid"], quote["ask"])
    db.session.rollback()
    assert first_read == second_read == [order.id]
    assert execution.execute_resting(first_read[0], quote, book) is True
    # the second one's id is still in its list: only the re-check under the row lock stops it
    assert execution.execute_resting(second_read[0], quote, book) is False
    assert trades_of(order.id) == 1
    assert balances(trader, "BTC") == (D("2.5"), 0)
    assert ledger.check().ok


@pytest.mark.parametrize("round_", range(2))
def test_two_trigger_checks_racing_for_one_order_fill_it_once(app, trader, market, round_):
    """Runs on SQLite too: BEGIN IMMEDIATE serialises the two transactions as row locks do on PostgreSQL."""
    order = place(trader, side="sell", order_type="limit", quantity="0.5", price="50100")
    order_id = order.id
    market.set("BTC/USD", "50150", "50160", size="1", step="10")
    quote, book = snapshot()

    def work(i):
        if not execution.execute_resting(order_id, quote, book):
            raise DomainError("already settled")

    results = race(app, 2, work, refused=(DomainError,))
    assert sorted(results) == ["insufficient", "ok"], results
    assert trades_of(order_id) == 1
    assert balances(trader, "BTC") == (D("1.5"), 0)
    assert held(order_id) == ("posted", 0)
    assert ledger.check().ok
