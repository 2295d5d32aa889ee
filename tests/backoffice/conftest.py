"""A small hand-computed book for the back office's aggregates (dashboard, histories, reports)."""

from datetime import timedelta
from decimal import Decimal

import pytest

from tradeapp.models.types import utcnow
from tradeapp.payouts import SandboxPayout
from tradeapp.services import deposits, ledger, transfers
from tradeapp.services import withdrawals as withdrawal_service
from tradeapp.services.ledger import Leg
from tradeapp.services.trading import orders

D = Decimal
BANK = {"iban": "GB82 WEST 1234 5698 7654 32", "account_holder": "Alice Liddell", "bank_name": "West Bank"}


@pytest.fixture()
def book(db, create_user, create_staff, pairs, market, monkeypatch):
    """Alice and Bob's day, every figure known by hand.

    Yesterday: Alice holds 300.00 USD (an adjustment). Today: bank deposits of 1,000.00 (Alice) and
    250.50 USD (Bob); Alice withdraws 100.00 USD (fee 1.00) and buys 0.01 BTC at 50,000 (notional
    500.00, taker fee 0.2 % = 1.00); Alice sends Bob 50.00 USD.

    USD: opening 300.00, deposits 1,250.50, withdrawals 100.00, fees 2.00, counterparty P&L +500.00,
    other 0, closing 948.50 (Alice 699.00 − … see the test), volume 500.00. BTC: closing 0.01, P&L −0.01.
    """
    SandboxPayout.reset()
    alice = create_user(email="alice@example.com", username="alice", kyc_status="approved", is_verified=True)
    bob = create_user(email="bob@example.com", username="bob", kyc_status="approved", is_verified=True)
    finance = create_staff(role="finance")
    wallet = ledger.wallet_for(alice, "USD")
    # journal entries are immutable: the opening balance is posted "yesterday" by the ledger's own clock
    with monkeypatch.context() as m:
        m.setattr(ledger, "utcnow", lambda: utcnow() - timedelta(days=1))
        ledger.post(
            "adjustment", [Leg(wallet, D("300")), Leg(ledger.platform_account("adjustments", "USD"), D("-300"))]
        )
    db.session.commit()

    deposits.confirm_bank_deposit(finance, deposits.create_bank_deposit(alice, "USD", "1000"))
    deposits.confirm_bank_deposit(finance, deposits.create_bank_deposit(bob, "USD", "250.50"))
    w = withdrawal_service.request_withdrawal(alice, "USD", "100", "bank_account", dict(BANK))
    withdrawal_service.approve_withdrawal(finance, w)  # the payout runs inline in tests
    market.set("BTC/USD", "49990", "50000", levels=3, size="1", step="10")
    orders.place_order(alice, {"symbol": "BTC-USD", "side": "buy", "order_type": "market", "quantity": "0.01"})
    transfers.transfer(alice, "bob@example.com", "USD", "50")
    db.session.expire_all()
    yield {"alice": alice, "bob": bob, "finance": finance}
    SandboxPayout.reset()
