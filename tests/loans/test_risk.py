"""LTV on price ticks: only crossing loans are touched, a margin call tells once per crossing, and
liquidation sells through the order engine (partial back to the initial LTV, full with a shortfall,
never on a stale price, overdue beyond grace)."""

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from tests.api.order_helpers import make_stale
from tests.loans.conftest import active_loan, set_btc
from tests.trading_helpers import balances
from tradeapp.extensions import db
from tradeapp.models import Hold, Loan, LoanEvent, LoanLiquidation, Notification, Order
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
