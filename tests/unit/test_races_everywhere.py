"""Money races that run on every backend.

Embedded mode (SQLite) is a real deployment target. There ``FOR UPDATE`` is ignored and every
transaction starts with ``BEGIN IMMEDIATE`` (see ``tradeapp/db_setup.py``): writers queue for the
database's one write lock instead of for row locks. These races must come out exactly as they do
on PostgreSQL: exactly the affordable ones win, the losers change nothing, the books balance.
"""

from decimal import Decimal

import pytest

from tests.concurrency import race
from tests.trading_helpers import balances, fund
from tradeapp.errors import DomainError, IllegalTransition
from tradeapp.extensions import db
from tradeapp.models import Hold, Order, User, Wallet, Withdrawal
from tradeapp.services import ledger, transfers
from tradeapp.services import withdrawals as withdrawal_service
from tradeapp.services.ledger import InsufficientFunds, Leg
from tradeapp.services.trading import execution, orders, prices
from tradeapp.services.trading.pairs import get_pair

D = Decimal
BANK = {"iban": "GB82 WEST 1234 5698 7654 32", "account_holder": "Carol Ross", "bank_name": "West Bank"}


def credit(user, amount, currency="USD"):
    wallet = ledger.wallet_for(user, currency)
    ledger.post(
        "deposit", [Leg(wallet, D(amount)), Leg(ledger.platform_account("clearing:bank", currency), -D(amount))]
    )
    db.session.commit()
    return wallet.id


def test_twelve_transfers_racing_for_funds_for_five(app, db, user, create_user):
    recipients = [create_user().id for _ in range(12)]
    credit(user, "50")
    sender = user.id

    def work(i):
        a, b = ledger.wallet_for(sender, "USD"), ledger.wallet_for(recipients[i], "USD")
        ledger.post("transfer", [Leg(a, D("-10")), Leg(b, D("10"))])
        db.session.commit()

    results = race(app, 12, work, refused=(InsufficientFunds,))
    assert results.count("ok") == 5 and results.count("insufficient") == 7, results
    db.session.expire_all()
    assert ledger.wallet_for(sender, "USD").balance == 0
    assert sum(ledger.wallet_for(r, "USD").balance for r in recipients) == D("50")
    assert ledger.check().ok


def test_holds_racing_for_one_wallet_reserve_no_more_than_it_has(app, db, user):
    wallet_id = credit(user, "100")

    def work(i):
        ledger.place_hold(db.session.get(Wallet, wallet_id), D("30"), "withdrawal", f"w:{i}")
        db.session.commit()

    results = race(app, 10, work, refused=(InsufficientFunds,))
    assert results.count("ok") == 3, results
    db.session.expire_all()
    assert ledger.wallet_for(user, "USD").locked_balance == D("90")
    assert db.session.query(Hold).count() == 3
    assert ledger.check().ok


def test_opposite_transfers_through_the_service_never_deadlock_or_lose_money(app, db, create_user):
    a, b = create_user(kyc_status="approved"), create_user(kyc_status="approved")
    credit(a, "100")
    credit(b, "100")
    ids = (a.id, b.id)
    emails = (a.email, b.email)

    def work(i):
        sender = db.session.get(User, ids[i % 2])
        for _ in range(3):
            transfers.transfer(sender, emails[1 - i % 2], "USD", "1", "")

    results = race(app, 6, work, refused=(DomainError,))
    assert results == ["ok"] * 6, results
    db.session.expire_all()
    assert ledger.wallet_for(a, "USD").balance + ledger.wallet_for(b, "USD").balance == D("200")
    assert ledger.check().ok


def test_withdrawal_requests_racing_for_funds_for_three(app, db, create_user):
    customer = create_user(kyc_status="approved", is_verified=True)
    credit(customer, "303")  # three withdrawals of 100 + 1.00 fee
    user_id = customer.id

    def work(i):
        withdrawal_service.request_withdrawal(db.session.get(User, user_id), "USD", "100", "bank_account", dict(BANK))

    results = race(app, 8, work, refused=(InsufficientFunds,))
    assert results.count("ok") == 3 and results.count("insufficient") == 5, results
    assert db.session.query(Withdrawal).count() == 3
    db.session.expire_all()
    wallet = ledger.wallet_for(customer, "USD")
    assert (wallet.balance, wallet.locked_balance) == (D("303"), D("303"))
    assert ledger.check().ok


def test_two_staff_approving_one_withdrawal_pay_it_once(app, db, create_user, create_staff):
    customer = create_user(kyc_status="approved", is_verified=True)
    credit(customer, "500")
    w = withdrawal_service.request_withdrawal(customer, "USD", "100", "bank_account", dict(BANK))
    staff_ids = [create_staff(role="finance").id for _ in range(2)]
    wid = w.id

    def work(i):
        withdrawal_service.approve_withdrawal(db.session.get(User, staff_ids[i]), db.session.get(Withdrawal, wid))

    results = race(app, 2, work, refused=(DomainError,))
    assert "ok" in results and set(results) <= {"ok", "insufficient"}, results
    db.session.expire_all()
    w = db.session.get(Withdrawal, wid)
    assert w.status == "completed"
    assert ledger.wallet_for(customer, "USD").balance == D("500") - D("100") - w.fee
    assert ledger.check().ok


@pytest.mark.parametrize("cancel_first", [False, True])
def test_a_cancel_racing_a_fill_one_wins_and_the_hold_is_consistent(app, db, create_user, pairs, market, cancel_first):
    trader = create_user()
    fund(trader, "USD", "100000")
    market.set("BTC/USD", "50000", "50010", levels=5, size="5", step="10")
    order = orders.place_order(
        trader, {"symbol": "BTC-USD", "side": "buy", "order_type": "limit", "quantity": "1", "price": "49000"}
    )
    order_id, user_id = order.id, trader.id
    market.set("BTC/USD", "48980", "48990", levels=5, size="5", step="10")
    pair = get_pair("BTC-USD")
    quote, book = prices.live_quote(pair), prices.live_book(pair)
    db.session.rollback()

    def work(i):
        if (i == 0) != cancel_first:
            if not execution.execute_resting(order_id, quote, book):
                raise IllegalTransition("nothing to fill")
        else:
            orders.cancel_order(db.session.get(User, user_id), order_id)

    results = race(app, 2, work, refused=(DomainError,))
    assert sorted(results) == ["insufficient", "ok"], results
    db.session.expire_all()
    order = db.session.get(Order, order_id)
    hold = db.session.get(Hold, order.hold_id)
    assert hold.status != "active" and hold.remaining == 0
    assert balances(trader, "USD")[1] == 0
    if order.status == "filled":
        assert balances(trader, "BTC")[0] == D("1")
    else:
        assert order.status == "cancelled" and balances(trader, "USD")[0] == D("100000")
    assert ledger.check().ok


def test_market_buys_racing_for_the_same_dollars(app, db, create_user, pairs, market):
    trader = create_user()
    fund(trader, "USD", "16000")  # each 0.1 BTC buy holds ~5,061: three fit at once
    market.set("BTC/USD", "50000", "50010", levels=10, size="5", step="10")
    user_id = trader.id

    def work(i):
        orders.place_order(
            db.session.get(User, user_id),
            {"symbol": "BTC-USD", "side": "buy", "order_type": "market", "quantity": "0.1"},
        )

    results = race(app, 6, work, refused=(InsufficientFunds,))
    assert results.count("ok") >= 3 and set(results) <= {"ok", "insufficient"}, results
    usd, locked = balances(trader, "USD")
    assert usd >= 0 and locked == 0
    assert balances(trader, "BTC")[0] == D("0.1") * results.count("ok")
    assert ledger.check().ok
