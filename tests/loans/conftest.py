"""Loans test world: BTC/USD and ETH/USD priced by hand, a USD product against BTC or ETH, a verified
borrower with coins, and two loan officers (maker-checker needs two)."""

from decimal import Decimal

import pytest

from tests.trading_helpers import fund

D = Decimal

PRODUCT = {
    "name": "USD against crypto, 30 days",
    "description": "Borrow dollars against BTC or ETH.",
    "loan_currency": "USD",
    "collateral_currencies": ["BTC", "ETH"],
    "min_amount": "100",
    "max_amount": "100000",
    "interest_rate": "12",
    "term_days": 30,
    "term_options": [30, 90],
    "initial_ltv": "50",
    "margin_call_ltv": "70",
    "liquidation_ltv": "80",
    "liquidation_fee": "2",
    "grace_days": 3,
}


def set_btc(feed, bid, *, size="5", levels=10, step="1") -> None:
    """BTC/USD at ``bid`` (ask one dollar above), deep enough for any liquidation of these tests."""
    bid = D(str(bid))
    feed.set("BTC/USD", bid, bid + 1, levels=levels, size=size, step=step)


@pytest.fixture()
def world(db, create_user, create_staff, pairs, market):
    from tradeapp.services import loans

    set_btc(market, "50000")
    market.set("ETH/USD", "3000", "3001", levels=5, size="50", step="1")
    admin = create_staff(role="admin")
    product = loans.save_product(admin, PRODUCT)
    borrower = create_user(kyc_status="approved", is_verified=True)
    fund(borrower, "BTC", "2")
    fund(borrower, "USD", "1000")

    class World:
        pass

    w = World()
    w.db, w.market, w.product, w.admin, w.borrower = db, market, product, admin, borrower
    w.officer = create_staff(role="loans")
    w.officer2 = create_staff(role="loans")
    w.pairs = pairs
    return w


def apply(w, amount="10000", collateral="0.5", currency="BTC", **extra):
    from tradeapp.services import loans

    data = {"product": w.product.id, "amount": amount, "collateral_amount": collateral, "collateral_currency": currency}
    return loans.apply(w.borrower, {**data, **extra})


def active_loan(w, amount="10000", collateral="0.5"):
    """An approved, disbursed loan (one approval: under the dual-approval threshold)."""
    from tradeapp.services import loans

    loan = apply(w, amount, collateral)
    return loans.approve(w.officer, loan.id)
