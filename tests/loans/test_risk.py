"""LTV on price ticks: only crossing loans are touched, a margin call tells once per crossing, and
liquidation sells through the order engine (partial back to the initial LTV, full with a shortfall,
never on a stale price, overdue beyond grace)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.api.order_helpers import make_stale
from tests.loans.conftest import active_loan, set_btc
from tests.trading_helpers import balances
from tradeapp.errors import IllegalTransition, PermissionDenied, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import AuditLog, Hold, JournalEntry, Loan, LoanEvent, LoanLiquidation, Notification, Order
from tradeapp.services import ledger, loans
from tradeapp.services.loans import risk

D = Decimal


def _reload(loan_id):
    db.session.expire_all()
    return db.session.get(Loan, loan_id)


def _notes(kind):
    return db.session.scalar(select(func.count()).select_from(Notification).where(Notification.kind == kind))


def test_a_tick_touches_only_the_loans_whose_threshold_it_crossed(world):
    risky = active_loan(world, "10000", "0.4")  # LTV 50 %, margin call below 35714.29
    safe = active_loan(world, "1000", "0.4")  # LTV 5 %
    set_btc(world.market, "45000")
    assert loans.check_ltv("BTC/USD") == {"touched": 0, "margin_calls": 0, "cleared": 0, "liquidated": 0}
    set_btc(world.market, "35000")
    assert loans.check_ltv("BTC/USD")["margin_calls"] == 1
    assert _reload(risky.id).margin_called and not _reload(safe.id).margin_called
    assert loans.check_ltv("BTC/USD")["touched"] == 0  # the same price again: nothing new
    assert _notes("loan_margin_call") == 1


def test_a_margin_call_tells_once_per_crossing(world):
    loan = active_loan(world, "10000", "0.4")
    for price in ("35000", "34000", "36000", "37000", "35000"):
        set_btc(world.market, price)
        loans.check_ltv("BTC/USD")
    # down (call), further down (nothing), back up (cleared), up (nothing), down again (second call)
    assert _notes("loan_margin_call") == 2
    kinds = [e.kind for e in db.session.scalars(select(LoanEvent).where(LoanEvent.loan_id == loan.id))]
    assert kinds.count("margin_call") == 2 and kinds.count("margin_cleared") == 1
    assert _reload(loan.id).margin_calls == 2


def test_liquidation_sells_back_to_the_initial_ltv_through_the_order_engine(world):
    loan = active_loan(world, "10000", "0.4")  # liquidation at 80 %: below 31250
    set_btc(world.market, "31000")
    assert loans.check_ltv("BTC/USD")["liquidated"] == 1
    loan = _reload(loan.id)
    row = db.session.scalar(select(LoanLiquidation))
    assert row.scope == "partial" and row.reason == "ltv"
    order = db.session.get(Order, row.order_id)
    assert order.source == "loan" and order.side == "sell" and order.status == "filled"
    assert loan.status == "active"
    assert D("0.4") - row.collateral_sold == loan.collateral_amount
    # back at (or just under) the initial 50 %, on the price it sold at
    assert D("49.9") < loan.ltv < D("50.01")  # the initial 50 %, give or take the slippage of the fills
    assert row.fee == (row.repaid * D("0.02")).quantize(D("0.01"), "ROUND_UP")
    assert loan.principal_outstanding == D("10000") - row.repaid
    assert not loan.margin_called
    hold = db.session.get(Hold, loan.hold_id)
    assert hold.status == "active" and hold.remaining == loan.collateral_amount
    assert balances(world.borrower, "BTC")[1] == loan.collateral_amount
    assert _notes("loan_liquidated") == 1
    assert ledger.check().ok


def test_a_crash_through_the_collateral_defaults_with_the_shortfall_recorded(world):
    loan = active_loan(world, "10000", "0.4")
    set_btc(world.market, "15000")  # the 0.4 BTC fetch 6000: not enough
    loans.check_ltv("BTC/USD")
    loan = _reload(loan.id)
    row = db.session.scalar(select(LoanLiquidation))
    assert row.scope == "full" and loan.status == "defaulted"
    assert loan.shortfall == row.shortfall == D("10000") - row.repaid > 0
    assert loan.collateral_amount == 0
    assert balances(world.borrower, "BTC") == (D("1.6"), D("0"))
    assert ledger.check().ok


def test_a_stale_price_never_liquidates(world, monkeypatch):
    loan = active_loan(world, "10000", "0.4")
    set_btc(world.market, "20000")
    make_stale(monkeypatch, "BTC/USD")
    assert loans.check_ltv("BTC/USD")["touched"] == 0
    assert risk.liquidate(loan.id, "ltv") is None
    assert _reload(loan.id).status == "active"
    assert db.session.scalar(select(func.count()).select_from(LoanLiquidation)) == 0


def test_overdue_beyond_grace_is_liquidated_in_full_and_the_rest_released(world):
    loan = active_loan(world, "10000", "0.5")
    due = loan.due_date
    assert loans.liquidate_overdue(due + timedelta(days=3)) == 0  # within the 3 grace days
    assert loans.liquidate_overdue(due + timedelta(days=4)) == 1
    loan = _reload(loan.id)
    row = db.session.scalar(select(LoanLiquidation))
    assert row.reason == "overdue" and loan.status == "repaid"
    assert row.repaid == D("10000") and row.fee == D("200")
    # what was not sold is the customer's again
    assert balances(world.borrower, "BTC") == (D("2") - row.collateral_sold, D("0"))
    assert ledger.check().ok


def test_a_retried_margin_call_job_notifies_nobody_twice(world):
    loan = active_loan(world, "10000", "0.4")
    set_btc(world.market, "35000")
    loans.check_ltv("BTC/USD")
    loan = _reload(loan.id)
    assert _notes("loan_margin_call") == 1
    # the job as the worker would run it again (same batch: its first loan, that loan's count and version)
    crossing = f"{loan.id}-{loan.margin_calls}-{loan.version}"
    assert loans.notify_margin_calls([loan.id], "35000", "BTC", crossing) == 0
    assert _notes("loan_margin_call") == 1


def _defaulted(world):
    loan = active_loan(world, "10000", "0.4")
    set_btc(world.market, "15000")
    loans.check_ltv("BTC/USD")
    loan = _reload(loan.id)
    assert loan.status == "defaulted"
    return loan


def _book(currency="USD"):
    db.session.expire_all()
    return ledger.platform_account("loans", currency).balance, ledger.platform_account("loan_losses", currency).balance


def test_the_customer_can_repay_a_shortfall_and_the_loan_ends_repaid(world):
    loan = _defaulted(world)
    owed, principal = loan.outstanding_balance, loan.principal_outstanding
    book_before, _ = _book()
    result = loans.repay(world.borrower, loan.id, str(owed + 5))
    assert result.loan.status == "repaid" and result.capped == D("5")
    assert result.repayment.principal_amount == principal > 0
    book_after, losses = _book()
    assert book_after - book_before == principal and losses == 0
    assert ledger.check().ok


def test_staff_write_off_moves_the_principal_to_loan_losses_and_forgives_the_interest(world, create_user):
    loan = _defaulted(world)
    principal = loan.principal_outstanding
    book_before, losses_before = _book()
    with pytest.raises(PermissionDenied):
        loans.write_off(world.borrower, loan.id, "not staff")
    with pytest.raises(ValidationFailed):
        loans.write_off(world.officer, loan.id, "   ")
    loan = loans.write_off(world.officer, loan.id, "  Customer   unreachable for 90 days ")
    assert loan.status == "written_off"
    assert loan.principal_outstanding == loan.interest_accrued == loan.outstanding_balance == 0
    assert loan.shortfall > 0  # the record of what was lost stays
    book_after, losses_after = _book()
    assert (book_after - book_before, losses_after - losses_before) == (principal, -principal)
    entry = db.session.scalar(select(JournalEntry).where(JournalEntry.kind == "loan_write_off"))
    assert entry.reference == f"loan:{loan.id}" and entry.created_by_id == world.officer.id
    (line,) = db.session.scalars(select(LoanEvent).where(LoanEvent.kind == "written_off")).all()
    assert "Customer unreachable for 90 days" in line.note
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "loan.written_off")).after["reason"] == (
        "Customer unreachable for 90 days"
    )
    with pytest.raises(IllegalTransition):
        loans.write_off(world.officer, loan.id, "twice")
    with pytest.raises(IllegalTransition):
        loans.repay(world.borrower, loan.id, "1")
    assert ledger.check().ok


def test_only_a_defaulted_loan_can_be_written_off(world):
    loan = active_loan(world)
    with pytest.raises(IllegalTransition) as err:
        loans.write_off(world.officer, loan.id, "no")
    assert "Only a defaulted loan can be written off; this one is active." in err.value.message
    assert _reload(loan.id).principal_outstanding == D("10000")
