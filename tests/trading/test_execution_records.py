"""What one fill writes, exactly: the journal entry and its postings, the Trade, the history line,
the order's figures and reasons, the events, the fee hooks and order listeners, the notification."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.trading_helpers import fund
from tradeapp import realtime
from tradeapp.errors import IllegalTransition
from tradeapp.extensions import db
from tradeapp.models import JournalEntry, Notification, Order, PlatformAccount, Posting, Trade, Transaction, Wallet
from tradeapp.services import ledger
from tradeapp.services.trading import execution, orders

D = Decimal


@pytest.fixture()
def trader(create_user, pairs, market):
    user = create_user()
    fund(user, "USD", "100000")
    fund(user, "BTC", "2")
    market.set("BTC/USD", "50000", "50010", levels=5, size="0.5", step="10")
    return user


@pytest.fixture()
def events(monkeypatch):
    seen = []
    monkeypatch.setattr(realtime, "emit_to_user", lambda user_id, event, data: seen.append((user_id, event, data)))
    return seen


def place(user, **data):
    data.setdefault("symbol", "BTC-USD")
    return orders.place_order(user, data)


def postings_of(entry_id) -> list[tuple[str, str, Decimal]]:
    """``(owner, currency, amount)`` per posting: ``user`` for a wallet, the code for a platform account."""
    rows = db.session.execute(
        select(Posting.wallet_id, PlatformAccount.code, Posting.currency, Posting.amount)
        .outerjoin(PlatformAccount, PlatformAccount.id == Posting.platform_account_id)
        .where(Posting.entry_id == entry_id)
    )
    return sorted(("user" if wallet_id else code, currency, amount) for wallet_id, code, currency, amount in rows)


def taking(path: str, price: str) -> dict:
    """An order that takes liquidity at once: a market order (the immediate path), or a limit at
    ``price`` the book already crosses (placed, then filled fill by fill through ``settle_fill``)."""
    return {"order_type": "market"} if path == "market" else {"order_type": "limit", "price": price}


#: both paths that fill an order as it is placed must write the same rows
PATHS = pytest.mark.parametrize("path", ["market", "marketable_limit"])


def trades_of(order_id) -> list[Trade]:
    db.session.expire_all()
    return list(db.session.scalars(select(Trade).where(Trade.order_id == order_id).order_by(Trade.id)))


@PATHS
def test_a_market_buy_fill_books_exactly_one_entry_trade_and_history_line(trader, events, path):
    order = place(trader, side="buy", quantity="0.5", **taking(path, "50010"))
    (trade,) = trades_of(order.id)
    memo = f"Buy 0.500000 BTC/USD @ 50010 (order {order.id})"
    entry = db.session.get(JournalEntry, trade.entry_id)
    assert (entry.kind, entry.memo, entry.reference) == ("trade", memo, f"order:{order.id}")
    assert postings_of(entry.id) == sorted(
        [
            ("user", "USD", D("-25055.01")),
            ("user", "BTC", D("0.5")),
            ("trading", "BTC", D("-0.5")),
            ("trading", "USD", D("25005.00")),
            ("fees", "USD", D("50.01")),
        ]
    )
    assert (trade.user_id, trade.pair_id, trade.side, trade.liquidity) == (trader.id, order.pair_id, "buy", "taker")
    assert (trade.quantity, trade.price, trade.notional, trade.fee) == (D("0.5"), D("50010"), D("25005"), D("50.01"))
    assert trade.realized_pnl is None and trade.executed_at is not None
    line = db.session.scalar(select(Transaction).where(Transaction.reference_id == f"TRD-{trade.id}"))
    assert (line.user_id, line.transaction_type, line.currency, line.status) == (trader.id, "trade", "USD", "completed")
    assert (line.amount, line.fee, line.direction, line.notes, line.entry_id) == (
        D("25005.00"),
        D("50.01"),
        -1,
        memo,
        entry.id,
    )
    assert line.created_at == line.completed_at == trade.executed_at
    order = db.session.get(Order, order.id)
    assert (order.status, order.filled_quantity, order.fee, order.average_price) == (
        "filled",
        D("0.5"),
        D("50.01"),
        D("50010"),
    )
    assert order.executed_at == trade.executed_at and (order.trigger_key, order.trigger_price) == (None, None)
    names = [(user_id, event) for user_id, event, _ in events]
    assert names == [(trader.id, e) for e in ("trade", "position", "order", "wallet_updated", "wallet_updated")]
    assert events[0][2] == realtime.trade_payload(trade, order.pair)
    assert (events[2][2]["id"], events[2][2]["status"], events[2][2]["filled_quantity"]) == (
        order.id,
        "filled",
        "0.500000",
    )
    position = events[1][2]
    assert (position["symbol"], position["side"], position["quantity"], position["entry_price"]) == (
        "BTC/USD",
        "long",
        "0.500000",
        "50010.00",
    )
    assert {data["currency"] for _, event, data in events if event == "wallet_updated"} == {"USD", "BTC"}
    assert ledger.check().ok


@PATHS
def test_a_market_sell_fill_pays_the_proceeds_less_the_fee(trader, market, path):
    place(trader, side="buy", quantity="0.5", **taking(path, "50010"))
    market.set("BTC/USD", "51000", "51010", size="0.5", step="10")
    order = place(trader, side="sell", quantity="0.5", **taking(path, "51000"))
    (trade,) = trades_of(order.id)
    memo = f"Sell 0.500000 BTC/USD @ 51000 (order {order.id})"
    entry = db.session.get(JournalEntry, trade.entry_id)
    assert (entry.kind, entry.memo, entry.reference) == ("trade", memo, f"order:{order.id}")
    assert postings_of(entry.id) == sorted(
        [
            ("user", "BTC", D("-0.5")),
            ("trading", "BTC", D("0.5")),
            ("trading", "USD", D("-25500.00")),
            ("user", "USD", D("25449.00")),
            ("fees", "USD", D("51.00")),
        ]
    )
    assert (trade.side, trade.notional, trade.fee) == ("sell", D("25500"), D("51"))
    assert trade.realized_pnl == D("0.5") * (51000 - 50010) - D("51")
    line = db.session.scalar(select(Transaction).where(Transaction.reference_id == f"TRD-{trade.id}"))
    assert (line.amount, line.fee, line.direction, line.notes) == (D("25500"), D("51"), 1, memo)
    assert ledger.check().ok


def test_a_partial_fill_of_a_resting_limit_is_a_maker_fill_and_keeps_the_order_live(trader, market):
    order = place(trader, side="sell", order_type="limit", quantity="1", price="50100")
    market.set_book("BTC/USD", bids=[["50150", "0.4"]], asks=[["50160", "1"]])
    assert orders.check_triggers("BTC/USD") == 1
    (trade,) = trades_of(order.id)
    # a sell fills at the limit's price or better: the bid 50150
    assert (trade.liquidity, trade.quantity, trade.price, trade.fee) == ("maker", D("0.4"), D("50150"), D("20.06"))
    # the proceeds less the fee to the seller, out of the base hold
    assert postings_of(trade.entry_id) == sorted(
        [
            ("user", "BTC", D("-0.4")),
            ("trading", "BTC", D("0.4")),
            ("trading", "USD", D("-20060.00")),
            ("user", "USD", D("20039.94")),
            ("fees", "USD", D("20.06")),
        ]
    )
    order = db.session.get(Order, order.id)
    assert (order.status, order.filled_quantity, order.executed_at) == ("partially_filled", D("0.4"), None)
    assert (order.trigger_key, order.trigger_price) == ("sell_up", D("50100"))
    assert db.session.scalars(select(Notification).where(Notification.user_id == trader.id)).all() == []
    assert ledger.check().ok


def test_a_resting_limit_that_fills_tells_its_owner(trader, market):
    order = place(trader, side="buy", order_type="limit", quantity="0.5", price="49000")
    market.set("BTC/USD", "48980", "48990", size="1", step="10")
    assert orders.check_triggers("BTC/USD") == 1
    note = db.session.scalars(select(Notification).where(Notification.user_id == trader.id)).one()
    assert (note.kind, note.title, note.body, note.link) == (
        "order_filled",
        "Limit order filled: buy 0.5 BTC at 48990 USD",
        f"Order #{order.id} on BTC/USD filled.",
        "/trade/orders/history",
    )
    assert note.data == {"order_id": order.id, "symbol": "BTC/USD", "side": "buy", "order_type": "limit"}


def test_notify_filled_names_the_reason_and_leaves_out_a_missing_price(trader):
    order = place(trader, side="buy", order_type="limit", quantity="0.25", price="40000")
    order.average_price = None
    execution.notify_filled(order, "Stop-loss of your position")
    note = db.session.scalars(select(Notification).where(Notification.user_id == trader.id)).one()
    assert (note.title, note.body) == (
        "Limit order filled: buy 0 BTC",
        f"Stop-loss of your position: order #{order.id} on BTC/USD filled.",
    )
    db.session.rollback()


def test_a_market_order_cut_by_the_slippage_cap_says_how_much_filled(trader, market):
    market.set_book("BTC/USD", bids=[["50000", "1"]], asks=[["50010", "0.3"], ["50400", "1"], ["51000", "5"]])
    order = place(trader, side="buy", order_type="market", quantity="1.5")
    assert (order.status, order.filled_quantity) == ("cancelled", D("1.3"))
    assert order.status_reason == "Only 1.3 could fill within the slippage limit; the rest was cancelled."
    assert order.executed_at is not None and order.trigger_key is None
    assert ledger.check().ok


def test_a_triggered_stop_with_nothing_in_reach_is_rejected_with_its_reason(trader, market):
    order = place(trader, side="sell", order_type="stop_loss", quantity="0.5", stop_price="49000")
    market.set_book("BTC/USD", bids=[["48900", "1"]], asks=[["48910", "1"]])
    quote = {"bid": D("48900"), "ask": D("48910")}
    assert execution.execute_resting(order.id, quote, {"bids": [], "asks": [[D("48910"), D("1")]]}) is True
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.status == "rejected" and order.filled_quantity == 0
    assert order.status_reason == "Triggered, but no offers were within the slippage limit; the order was cancelled."
    assert order.triggered_at is not None and order.executed_at is not None
    assert (order.trigger_key, order.trigger_price) == (None, None)
    assert db.session.scalars(select(Wallet).where(Wallet.user_id == trader.id, Wallet.currency == "BTC")).one()
    assert order.hold.status == "released" and ledger.check().ok


@PATHS
def test_fee_hooks_see_every_fill_that_charged_a_fee_and_listeners_every_order(trader, monkeypatch, path):
    fees_seen, orders_seen = [], []
    monkeypatch.setattr(
        execution, "FEE_HOOKS", [lambda trade, account, fee: fees_seen.append((trade.id, account, fee))]
    )
    monkeypatch.setattr(execution, "ORDER_LISTENERS", [lambda order, uow: orders_seen.append((order.id, order.status))])
    order = place(trader, side="buy", quantity="0.7", **taking(path, "50020"))
    trades = trades_of(order.id)
    fees = ledger.platform_account("fees", "USD")
    assert [(t, a.id, f) for t, a, f in fees_seen] == [
        (trades[0].id, fees.id, D("50.01")),
        (trades[1].id, fees.id, D("20.01")),
    ]
    assert orders_seen == [(order.id, "filled")]


def test_market_caps_round_down_to_the_price_step(app, trader):
    from tradeapp.services.trading.pairs import get_pair

    assert app.config["ORDER_MAX_SLIPPAGE"] == D("0.01")
    pair = get_pair("BTC-USD")
    buy = Order(pair=pair, side="buy", order_type="market", quantity=D("1"))
    sell = Order(pair=pair, side="sell", order_type="market", quantity=D("1"))
    # 50010.55 × 1.01 = 50510.6555 and 50000.05 × 0.99 = 49500.0495: down, not to the nearest
    assert execution.market_cap(buy, {"asks": [[D("50010.55"), D("1")]], "bids": []}) == D("50510.65")
    assert execution.market_cap(sell, {"asks": [], "bids": [[D("50000.05"), D("1")]]}) == D("49500.05")
    assert execution.stop_cover(D("50000.55"), D("0.01")) == D("50500.55")  # 50500.5555
    stop_buy = Order(pair=pair, side="buy", order_type="stop_loss", quantity=D("1"), stop_price=D("50000.55"))
    assert execution.market_cap(stop_buy, {"asks": [[D("50010.55"), D("1")]], "bids": []}) == D("50500.55")
    db.session.rollback()


def test_a_market_order_that_fills_less_than_one_unit_is_cancelled_not_rejected(trader, market):
    market.set_book("BTC/USD", bids=[["50000", "1"]], asks=[["50010", "0.3"], ["51000", "5"]])
    order = place(trader, side="buy", order_type="market", quantity="0.5")
    assert (order.status, order.filled_quantity) == ("cancelled", D("0.3"))
    assert order.status_reason == "Only 0.3 could fill within the slippage limit; the rest was cancelled."
    assert ledger.check().ok


# -- which resting orders a quote crosses ------------------------------------------------------------


def test_crossed_order_ids_take_the_best_first_up_to_the_limit_across_trigger_keys(trader, pairs, market):
    market.set("ETH/USD", "3000", "3001", size="10")
    fund(trader, "ETH", "1")
    buy_a = place(trader, side="buy", order_type="limit", quantity="0.01", price="49000")
    buy_b = place(trader, side="buy", order_type="limit", quantity="0.01", price="49500")
    sell_a = place(trader, side="sell", order_type="limit", quantity="0.01", price="50100")
    sell_b = place(trader, side="sell", order_type="limit", quantity="0.01", price="50050")
    place(trader, side="sell", order_type="limit", quantity="0.01", price="40000", symbol="ETH-USD")  # another pair
    pair_id = pairs["BTC/USD"].id
    # the ask fell to 49000 (both buys), the bid rose to 50100 (both sells): at the trigger price is crossed
    everything = execution.crossed_order_ids(pair_id, D("50100"), D("49000"))
    assert everything == [buy_b.id, buy_a.id, sell_b.id, sell_a.id]
    assert execution.crossed_order_ids(pair_id, D("50100"), D("49000"), limit=3) == [buy_b.id, buy_a.id, sell_b.id]
    assert execution.crossed_order_ids(pair_id, D("50100"), D("49000"), limit=2) == [buy_b.id, buy_a.id]
    assert execution.crossed_order_ids(pair_id, D("50099.99"), D("49000.01")) == [buy_b.id, sell_b.id]
    assert execution.crossed_order_ids(pair_id, None, D("49500")) == [buy_b.id]
    db.session.rollback()


@pytest.mark.parametrize(
    ("side", "price", "key", "bid"), [("buy", "49000", "buy_down", "48000"), ("sell", "50100", "sell_up", "50200")]
)
def test_an_order_no_longer_live_is_neither_crossed_nor_executed(trader, pairs, market, side, price, key, bid):
    order = place(trader, side=side, order_type="limit", quantity="0.1", price=price)
    orders.cancel_order(trader, order.id)
    # a cancelled row that still names its trigger (as rows written before the trigger index did)
    db.session.get(Order, order.id).trigger_key = key
    db.session.get(Order, order.id).trigger_price = D(price)
    db.session.commit()
    bid = D(bid)
    assert execution.crossed_order_ids(pairs["BTC/USD"].id, bid, bid + 10) == []
    book = {"bids": [[bid, D("1")]], "asks": [[bid + 10, D("1")]]}
    assert execution.execute_resting(order.id, {"bid": bid, "ask": bid + 10}, book) is False
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "cancelled" and trades_of(order.id) == []


def test_a_triggered_stop_fills_as_a_taker_within_the_slippage_cap(trader, market):
    order = place(trader, side="sell", order_type="stop_loss", quantity="0.5", stop_price="49000")
    book = {"bids": [[D("48900"), D("0.2")], [D("40000"), D("1")]], "asks": [[D("48910"), D("1")]]}
    assert execution.execute_resting(order.id, {"bid": D("48900"), "ask": D("48910")}, book) is True
    (trade,) = trades_of(order.id)
    assert (trade.liquidity, trade.quantity, trade.price, trade.fee) == ("taker", D("0.2"), D("48900"), D("19.56"))
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert (order.status, order.filled_quantity) == ("cancelled", D("0.2"))  # 40000 is beyond 48411.01
    assert order.status_reason == "Only 0.2 could fill within the slippage limit; the rest was cancelled."
    assert ledger.check().ok


def test_a_filled_stop_tells_its_owner_by_its_kind(trader, market):
    order = place(trader, side="sell", order_type="stop_loss", quantity="0.5", stop_price="49000")
    book = {"bids": [[D("48900"), D("1")]], "asks": [[D("48910"), D("1")]]}
    assert execution.execute_resting(order.id, {"bid": D("48900"), "ask": D("48910")}, book) is True
    note = db.session.scalars(select(Notification).where(Notification.user_id == trader.id)).one()
    assert note.title == "Stop loss order filled: sell 0.5 BTC at 48900 USD"
    assert note.data["order_type"] == "stop_loss"


def test_an_order_changed_by_another_transaction_is_read_again_under_its_lock(trader):
    from sqlalchemy import update

    order = place(trader, side="buy", order_type="limit", quantity="0.1", price="40000")
    assert db.session.get(Order, order.id).status == "open"  # the session's copy
    db.session.execute(
        update(Order)
        .where(Order.id == order.id)
        .values(status="filled", trigger_key=None, trigger_price=None)
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(IllegalTransition, match=r"^This order is already filled\.$"):
        orders.cancel_order(trader, order.id)
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "open"  # the refusal rolled back, the update with it


def test_a_later_fill_of_a_resting_order_builds_on_its_own_earlier_fills(trader, market):
    place(trader, side="buy", order_type="market", quantity="0.1")  # another order's fill, not to be counted
    order = place(trader, side="sell", order_type="limit", quantity="1", price="50100")
    market.set_book("BTC/USD", bids=[["50150", "0.4"]], asks=[["50160", "1"]])
    assert orders.check_triggers("BTC/USD") == 1
    market.set_book("BTC/USD", bids=[["50200.01", "5"]], asks=[["50210", "1"]])
    assert orders.check_triggers("BTC/USD") == 1
    first, second = trades_of(order.id)
    assert (first.notional, first.fee) == (D("20060.00"), D("20.06"))
    # 0.6 × 50200.01 = 30120.006: the cumulative notional 50180.006 gives 50180.00 in all (30120.00 for this
    # fill) and a cumulative fee of 50.180006 → 50.19, so 30.13 for this fill
    assert (second.notional, second.fee) == (D("30120.00"), D("30.13"))
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert (order.status, order.average_price, order.fee) == ("filled", D("50180.006"), D("50.19"))
    assert ledger.check().ok


def test_a_buy_fill_charges_its_notional_rounded_up_to_the_cent(trader):
    # a marketable limit fills through settle_fill (a market order through the immediate path):
    # 0.123457 × 50010 = 6174.08457, so the customer pays 6174.09 (rounded down, the books would lose a fraction)
    order = place(trader, side="buy", order_type="limit", quantity="0.123457", price="50010")
    (trade,) = trades_of(order.id)
    entry = db.session.get(JournalEntry, trade.entry_id)
    assert (entry.kind, entry.memo, entry.reference) == (
        "trade",
        f"Buy 0.123457 BTC/USD @ 50010 (order {order.id})",
        f"order:{order.id}",
    )
    assert (trade.notional, trade.fee) == (D("6174.09"), D("12.35"))  # the fee: 12.348169… up
    assert postings_of(trade.entry_id) == sorted(
        [
            ("user", "USD", D("-6186.44")),
            ("user", "BTC", D("0.123457")),
            ("trading", "BTC", D("-0.123457")),
            ("trading", "USD", D("6174.09")),
            ("fees", "USD", D("12.35")),
        ]
    )
    assert ledger.check().ok


def test_a_resting_buy_whose_fill_costs_exactly_its_hold_fills(trader, market):
    from tradeapp.models import Hold, TradingPair

    order = place(trader, side="buy", order_type="limit", quantity="0.5", price="49000")
    hold_id = order.hold_id
    assert db.session.get(Hold, hold_id).remaining == D("24549.00")  # 24500 + the 0.2 % taker fee
    # the maker fee raised to the taker's: a fill at the limit price now costs the whole hold, not more
    db.session.get(TradingPair, order.pair_id).maker_fee = D("0.2")
    db.session.commit()
    market.set_book("BTC/USD", bids=[["48990", "1"]], asks=[["49000", "1"]])
    assert orders.check_triggers("BTC/USD") == 1
    (trade,) = trades_of(order.id)
    assert (trade.quantity, trade.notional, trade.fee) == (D("0.5"), D("24500"), D("49.00"))
    order = db.session.get(Order, order.id)
    assert order.status == "filled"
    hold = db.session.get(Hold, hold_id)
    assert (hold.status, hold.remaining) == ("posted", D("0"))
    wallet = db.session.scalars(select(Wallet).where(Wallet.user_id == trader.id, Wallet.currency == "USD")).one()
    assert (wallet.balance, wallet.locked_balance) == (D("100000") - D("24549.00"), D("0"))
    assert ledger.check().ok


def test_a_fill_locks_the_owners_wallets_when_its_caller_has_not(trader, market):
    """execute() is also called with a fresh Outcome: the first fill locks the pair's wallets itself."""
    from tradeapp.services.uow import unit_of_work

    order = place(trader, side="buy", order_type="limit", quantity="0.3", price="49000")
    book = {"bids": [[D("48980"), D("1")]], "asks": [[D("48990"), D("1")]]}
    with unit_of_work() as uow:
        outcome = execution.Outcome(uow)
        locked = execution.lock_order(order.id)
        (trade,) = execution.execute(locked, book, locked.price, "maker", outcome)
        quote_wallet, base_wallet = outcome.wallets
        assert (quote_wallet.user_id, quote_wallet.currency) == (trader.id, "USD")
        assert (base_wallet.user_id, base_wallet.currency) == (trader.id, "BTC")
    assert (trade.quantity, trade.notional, trade.fee) == (D("0.3"), D("14697.00"), D("14.70"))
    usd = db.session.scalars(select(Wallet).where(Wallet.user_id == trader.id, Wallet.currency == "USD")).one()
    btc = db.session.scalars(select(Wallet).where(Wallet.user_id == trader.id, Wallet.currency == "BTC")).one()
    # the unspent part of the hold (14729.40 − 14711.70) stays held: the caller releases it
    assert (usd.balance, usd.locked_balance) == (D("100000") - D("14711.70"), D("17.70"))
    assert btc.balance == D("2.3")
    assert ledger.check().ok


def test_a_sell_whose_fee_takes_all_its_proceeds_pays_the_seller_nothing(trader, market):
    # 0.0001 × 100 = 0.01 and a fee of 0.2 % of it rounded up to the cent: 0.01 as well
    market.set_book("BTC/USD", bids=[["100", "1"]], asks=[["101", "1"]])
    order = place(trader, side="sell", order_type="limit", quantity="0.0001", price="100")
    (trade,) = trades_of(order.id)
    assert (trade.notional, trade.fee) == (D("0.01"), D("0.01"))
    # no zero-amount leg for the seller's USD (the ledger refuses those)
    assert postings_of(trade.entry_id) == sorted(
        [
            ("user", "BTC", D("-0.0001")),
            ("trading", "BTC", D("0.0001")),
            ("trading", "USD", D("-0.01")),
            ("fees", "USD", D("0.01")),
        ]
    )
    assert db.session.get(Order, order.id).status == "filled"
    assert ledger.check().ok


def test_cancelling_announces_the_order_and_only_its_owners_pair_wallets(trader, create_user, events):
    other = create_user()
    fund(other, "USD", "5")
    fund(other, "BTC", "1")
    fund(trader, "ETH", "3")  # the owner's wallet outside the pair: not announced
    order = place(trader, side="buy", order_type="limit", quantity="0.1", price="40000")
    events.clear()
    orders.cancel_order(trader, order.id)
    assert [(user_id, event) for user_id, event, _ in events] == [
        (trader.id, "order"),
        (trader.id, "wallet_updated"),
        (trader.id, "wallet_updated"),
    ]
    assert (events[0][2]["id"], events[0][2]["status"]) == (order.id, "cancelled")
    wallets = sorted(
        (d["currency"], D(d["balance"]), D(d["locked_balance"])) for _, e, d in events if e == "wallet_updated"
    )
    assert wallets == [("BTC", D("2"), D("0")), ("USD", D("100000"), D("0"))]
