"""Accrual (idempotent per loan and day, remainders, missed days), repayment (interest first, capped,
collateral released) and adding collateral."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.loans.conftest import active_loan, apply
from tests.trading_helpers import balances, fund
from tradeapp.errors import IllegalTransition, NotFound
from tradeapp.extensions import db
from tradeapp.models import Loan, LoanAccrual, LoanRepayment, Transaction
from tradeapp.services import ledger, loans
from tradeapp.services.ledger import InsufficientFunds, Leg

D = Decimal


def spend(user, currency, amount):
    """Take money out of the wallet (to the adjustments account), as if the customer spent it."""
    amount = D(amount)
    wallet = ledger.wallet_for(user, currency)
    ledger.post("adjustment", [Leg(wallet, -amount), Leg(ledger.platform_account("adjustments", currency), amount)])
    db.session.commit()


def _reload(loan_id):
    db.session.expire_all()
    return db.session.get(Loan, loan_id)


def test_accrual_is_idempotent_per_day_and_catches_up_missed_days(world):
    loan = active_loan(world)
    start = loan.accrued_through
    assert loans.accrue_loan(loan.id, start + timedelta(days=1)) == 1
    assert loans.accrue_loan(loan.id, start + timedelta(days=1)) == 0  # a re-run charges nothing
    assert loans.accrue_loan(loan.id, start + timedelta(days=4)) == 3  # two missed days and today
    loan = _reload(loan.id)
    assert db.session.scalar(select(func.count()).select_from(LoanAccrual).where(LoanAccrual.loan_id == loan.id)) == 4
    # 10000 × 12 % / 365 = 3.28767… a day: 4 days = 13.1506… → 13.15, the rest carried
    assert loan.interest_accrued == D("13.15")
    assert D("0") < loan.interest_remainder < D("0.01")
    assert loans.accrue_all(start + timedelta(days=4)) == 0
    assert loans.accrue_all(start + timedelta(days=5)) == 1


def test_repayment_pays_interest_first_and_records_the_split(world):
    loan = active_loan(world)
    loans.accrue_loan(loan.id, loan.accrued_through + timedelta(days=10))
    result = loans.repay(world.borrower, loan.id, "100")
    rep = result.repayment
    assert rep.interest_amount == D("32.87") and rep.principal_amount == D("67.13")
    assert result.capped == 0
    loan = _reload(loan.id)
    assert loan.interest_accrued == 0 and loan.principal_outstanding == D("9932.87")
    tx = db.session.get(Transaction, rep.transaction_id)
    assert tx.transaction_type == "loan_repayment" and tx.amount == D("100")
    assert ledger.platform_account("fees", "USD").balance == D("32.87")
    assert ledger.platform_account("loans", "USD").balance == D("-9932.87")
    # interest already paid is not charged again
    again = loans.repay(world.borrower, loan.id, "10")
    assert again.repayment.interest_amount == 0 and again.repayment.principal_amount == D("10")
    assert ledger.check().ok


def test_overpayment_is_capped_and_full_repayment_releases_the_collateral(world):
    loan = active_loan(world)
    loans.accrue_loan(loan.id, loan.accrued_through + timedelta(days=2))
    fund(world.borrower, "USD", "500")
    before = balances(world.borrower, "USD")[0]
    result = loans.repay(world.borrower, loan.id, "10500")
    assert result.capped == D("10500") - D("10006.57")
    assert "stays in your wallet" in result.message and "collateral released" in result.message
    assert balances(world.borrower, "USD")[0] == before - D("10006.57")
    loan = _reload(loan.id)
    assert loan.status == "repaid" and loan.hold.status == "released"
    assert balances(world.borrower, "BTC") == (D("2"), D("0"))
    with pytest.raises(IllegalTransition):
        loans.repay(world.borrower, loan.id, "1")
    assert ledger.check().ok


def test_repaying_needs_the_money_and_ones_own_loan(world, create_user):
    loan = active_loan(world)
    spend(world.borrower, "USD", "5000")  # the loan was spent: 6000 USD left of 11000
    with pytest.raises(InsufficientFunds):
        loans.repay(world.borrower, loan.id, "7000")
    other = create_user()
    fund(other, "USD", "20000")
    with pytest.raises(NotFound):
        loans.repay(other, loan.id, "100")
    with pytest.raises(NotFound):
        loans.repay(world.officer, loan.id, "100")  # staff never repay from their wallet for someone else
    assert db.session.scalar(select(func.count()).select_from(LoanRepayment)) == 0


def test_adding_collateral_lowers_the_ltv_and_moves_the_triggers(world):
    loan = active_loan(world)
    before = loan.margin_price
    loan = loans.add_collateral(world.borrower, loan.id, "0.5")
    assert loan.collateral_amount == D("1") and loan.ltv == D("20")
    assert loan.margin_price == before / 2
    assert balances(world.borrower, "BTC") == (D("2"), D("1"))
    assert loan.hold.remaining == D("1")
    assert ledger.check().ok


def test_overdue_loans_are_flagged_once(world):
    loan = active_loan(world)
    assert loans.flag_overdue(loan.due_date) == 0
    assert loans.flag_overdue(loan.due_date + timedelta(days=1)) == 1
    assert loans.flag_overdue(loan.due_date + timedelta(days=2)) == 0
    loan = _reload(loan.id)
    assert loan.overdue_since == loan.due_date
    buckets = loans.delinquency(loan.due_date + timedelta(days=40))
    assert [x.id for x in buckets["31-60"]] == [loan.id]


def test_pending_loans_do_not_accrue(world):
    loan = apply(world)
    assert loans.accrue_all(loan.applied_at.date() + timedelta(days=3)) == 0
