"""Trading under concurrency (PostgreSQL row locks) and a randomized session that keeps the books exact."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.concurrency import race
from tests.conftest import PG_URL
from tests.trading_helpers import balances, fund, make_pairs
from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models import Hold, Order, Trade, Wallet
from tradeapp.services import ledger
from tradeapp.services.ledger import InsufficientFunds
from tradeapp.services.trading import execution, orders, positions

D = Decimal
postgres_only = pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL")


@pytest.fixture()
def trader(create_user, pairs, market):
    user = create_user()
    fund(user, "USD", "100000")
    fund(user, "BTC", "5")
    market.set("BTC/USD", "50000", "50010", levels=10, size="5", step="10")
    return user


@postgres_only
@pytest.mark.parametrize("round_", range(3))
def test_cancel_racing_a_fill_exactly_one_wins_and_the_hold_is_consistent(app, trader, market, round_):
    order = orders.place_order(
        trader, {"symbol": "BTC-USD", "side": "buy", "order_type": "limit", "quantity": "1", "price": "49000"}
    )
    order_id, user_id = order.id, trader.id
    market.set("BTC/USD", "48980", "48990", levels=10, size="5", step="10")
    from tradeapp.services.trading import prices
    from tradeapp.services.trading.pairs import get_pair

    quote = prices.live_quote(get_pair("BTC-USD"))
    book = prices.live_book(get_pair("BTC-USD"))
    db.session.rollback()

    def work(i):
        from tradeapp.models import User

        if i % 2 == 0:
            if not execution.execute_resting(order_id, quote, book):
                raise DomainError("nothing to fill")
        else:
            orders.cancel_order(db.session.get(User, user_id), order_id)

    results = race(app, 2, work if round_ != 1 else (lambda i: work(1 - i)), refused=(DomainError,))
    assert sorted(results) == ["insufficient", "ok"], results
    db.session.expire_all()
    order = db.session.get(Order, order_id)
    hold = db.session.get(Hold, order.hold_id)
    assert hold.status != "active" and hold.remaining == 0
    assert balances(trader, "USD")[1] == 0
    if order.status == "filled":
        assert balances(trader, "BTC")[0] == D("6")
    else:
        assert order.status == "cancelled" and balances(trader, "USD")[0] == D("100000")
    assert ledger.check().ok


@postgres_only
def test_twenty_market_buys_racing_for_the_same_dollars(app, create_user, pairs, market):
    user = create_user()
    fund(user, "USD", "16000")  # each 0.1 BTC buy holds ~5,061 (cap 1 % over the ask, plus fee)
    market.set("BTC/USD", "50000", "50010", levels=10, size="5", step="10")
    user_id = user.id

    def work(i):
        from tradeapp.models import User

        orders.place_order(
            db.session.get(User, user_id),
            {"symbol": "BTC-USD", "side": "buy", "order_type": "market", "quantity": "0.1"},
        )

    results = race(app, 20, work, refused=(InsufficientFunds,))
    # the first three fit; a hold is released once its order fills, so later ones may fit too
    assert results.count("ok") >= 3 and set(results) <= {"ok", "insufficient"}, results
    usd, locked = balances(user, "USD")
    assert usd >= 0 and locked == 0
    assert balances(user, "BTC")[0] == D("0.1") * results.count("ok")
    assert ledger.check().ok


@postgres_only
def test_buys_and_sells_of_one_user_in_parallel_never_deadlock(app, trader):
    user_id = trader.id

    def work(i):
        from tradeapp.models import User

        user = db.session.get(User, user_id)
        for _ in range(4):
            side = "buy" if i % 2 == 0 else "sell"
            orders.place_order(user, {"symbol": "BTC-USD", "side": side, "order_type": "market", "quantity": "0.05"})

    results = race(app, 12, work, refused=(InsufficientFunds,))
    assert results == ["ok"] * 12, results
    assert balances(trader, "BTC")[0] == D("5")
    assert ledger.check().ok


# -- property: a randomized trading session keeps the ledger exact --------------------------------

prices_ = st.integers(45000, 55000)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("market"), st.sampled_from(["buy", "sell"]), st.integers(1, 3000)),
        st.tuples(st.just("limit"), st.sampled_from(["buy", "sell"]), st.integers(1, 3000), prices_),
        st.tuples(
            st.just("stop"),
            st.sampled_from(["stop_loss", "take_profit"]),
            st.sampled_from(["buy", "sell"]),
            st.integers(1, 3000),
            prices_,
        ),
        st.tuples(st.just("move"), prices_),
        st.tuples(st.just("cancel"), st.integers(0, 30)),
        st.tuples(
            st.just("close"),
        ),
    ),
    max_size=30,
)


#: a session in which every kind of step can succeed (run before the random ones)
EVERY_KIND = [
    ("limit", "buy", 1000, 49000),
    ("cancel", 0),
    ("market", "buy", 2000),
    ("stop", "stop_loss", "sell", 500, 45000),
    ("limit", "sell", 500, 50100),
    ("move", 50200),
    ("close",),
]


def test_random_trading_session_keeps_the_books_exact(app, db, create_user, market):
    """Random sessions keep the books exact, and most of what they try actually happens.

    Refusals are allowed (no funds, nothing to cancel, nothing to close) but counted: a session
    in which every order were refused would keep the books exact too, and prove nothing.
    """
    from collections import Counter

    attempted: Counter = Counter()
    succeeded: Counter = Counter()

    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(session=steps)
    @example(session=EVERY_KIND)  # always run: each kind of step goes through at least once
    def run(session):
        _random_session(db, create_user, market, session, attempted, succeeded)

    run()
    # every kind of step went through somewhere, and most of what was tried succeeded
    for kind in ("market", "limit", "stop", "move", "cancel", "close"):
        assert succeeded[kind] > 0, (kind, attempted, succeeded)
    assert sum(succeeded.values()) >= 0.6 * sum(attempted.values()), (attempted, succeeded)
    orders_tried = attempted["market"] + attempted["limit"] + attempted["stop"]
    assert succeeded["market"] + succeeded["limit"] + succeeded["stop"] >= 0.5 * orders_tried, (attempted, succeeded)


def _random_session(db, create_user, market, session, attempted, succeeded) -> None:
    from tests.conftest import _empty_tables

    db.session.remove()
    _empty_tables(db)
    make_pairs(db)
    user = create_user(email="r@example.com", username="r")
    fund(user, "USD", "50000")
    fund(user, "BTC", "1")
    market.set("BTC/USD", "50000", "50010", levels=6, size="0.2", step="7")
    placed: list[int] = []
    for step in session:
        kind = step[0]
        if kind == "cancel" and not placed:
            continue
        attempted[kind] += 1
        try:
            if kind == "market":
                placed.append(_place(user, side=step[1], order_type="market", quantity=_qty(step[2])))
            elif kind == "limit":
                placed.append(
                    _place(user, side=step[1], order_type="limit", quantity=_qty(step[2]), price=str(step[3]))
                )
            elif kind == "stop":
                placed.append(
                    _place(user, side=step[2], order_type=step[1], quantity=_qty(step[3]), stop_price=str(step[4]))
                )
            elif kind == "move":
                market.set("BTC/USD", str(step[1]), str(step[1] + 10), levels=6, size="0.2", step="7")
                orders.check_triggers("BTC/USD")
            elif kind == "cancel":
                orders.cancel_order(user, placed[step[1] % len(placed)])
            elif kind == "close":
                for position in db.session.scalars(positions.positions_query(user)).all():
                    orders.close_position(user, position.id)
            succeeded[kind] += 1
        except DomainError:
            db.session.rollback()
        report = ledger.check()
        assert report.ok, report.problems()
    for wallet in db.session.scalars(select(Wallet)):
        assert wallet.available_balance >= 0 and wallet.locked_balance >= 0
    # Every live order's hold reserves exactly what the order may still spend; done orders hold nothing.
    for order in db.session.scalars(select(Order)):
        hold = db.session.get(Hold, order.hold_id)
        trades = db.session.scalars(select(Trade).where(Trade.order_id == order.id)).all()
        if order.side == "sell":
            # a sell holds coins: what it sold came out of the hold, coin for coin
            assert hold.posted_total == order.filled_quantity
        else:
            # a buy holds quote money: each fill's notional and fee came out of the hold, cent for cent
            assert hold.posted_total == sum((t.notional + t.fee for t in trades), D(0))
        if order.status in ("open", "partially_filled"):
            assert hold.status == "active"
            assert hold.remaining == hold.amount - hold.posted_total  # nothing released while it lives
            if order.side == "sell":
                assert hold.remaining == order.quantity - order.filled_quantity
            else:
                # what is left covers the rest at its price cap with the taker fee (to the cent of
                # rounding each of the two cumulative sums may take)
                rest = order.quantity - order.filled_quantity
                cap = order.price if order.order_type == "limit" else execution.stop_cover(order.stop_price, D("0.01"))
                assert hold.remaining >= rest * cap * (1 + order.pair.taker_fee / 100) - D("0.02")
        else:
            assert hold.status != "active" and hold.remaining == 0


def _qty(n: int) -> str:
    return str(D(n) / 10000)


def _place(user, **data) -> int:
    return orders.place_order(user, {"symbol": "BTC-USD", **data}).id
