"""Applying (KYC, bounds, market-valued collateral held at once, three open loans), staff approval with
maker-checker, disbursement through the ledger, rejection."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.loans.conftest import PRODUCT, active_loan, apply, set_btc
from tests.trading_helpers import balances, fund
from tradeapp.errors import Conflict, IllegalTransition, NotFound, PermissionDenied, ValidationFailed
from tradeapp.extensions import db
from tradeapp.models import AuditLog, Hold, JournalEntry, Loan, Notification, Transaction
from tradeapp.services import ledger, loans
from tradeapp.services.compliance import KycRequired
from tradeapp.services.ledger import InsufficientFunds

D = Decimal


def test_application_holds_the_collateral_at_once(world):
    loan = apply(world)
    assert loan.status == "pending"
    assert balances(world.borrower, "BTC") == (D("2"), D("0.5"))
    hold = db.session.get(Hold, loan.hold_id)
    assert (hold.reason, hold.remaining, hold.status) == ("loan_collateral", D("0.5"), "active")
    assert loan.ltv == D("40")  # 10000 / (0.5 × 50000)
    assert ledger.check().ok


def test_unverified_customers_are_refused_with_403(world, create_user):
    stranger = create_user(kyc_status="pending")
    fund(stranger, "BTC", "1")
    with pytest.raises(KycRequired) as err:
        loans.apply(
            stranger,
            {"product": world.product.id, "amount": "1000", "collateral_amount": "0.1", "collateral_currency": "BTC"},
        )
    assert err.value.status == 403


def test_collateral_is_valued_at_the_market_and_the_minimum_is_said(world):
    # 10000 USD at 50 % initial LTV needs 20000 USD of BTC: 0.4 BTC at 50000
    with pytest.raises(ValidationFailed) as err:
        apply(world, collateral="0.39")
    assert err.value.fields["collateral_amount"] == ["Minimum collateral: 0.40000000 BTC."]
    set_btc(world.market, "47000")
    with pytest.raises(ValidationFailed) as err:
        apply(world, collateral="0.4")
    assert "0.42553192 BTC" in err.value.message
    assert balances(world.borrower, "BTC") == (D("2"), D("0"))  # nothing held


def test_bounds_currency_and_term_are_checked(world):
    with pytest.raises(ValidationFailed) as err:
        apply(world, amount="50")
    assert "amount" in err.value.fields
    with pytest.raises(ValidationFailed) as err:
        apply(world, currency="USDT")
    assert "collateral_currency" in err.value.fields
    with pytest.raises(ValidationFailed) as err:
        apply(world, term_days=45)
    assert err.value.fields["term_days"] == ["One of: 30, 90 days."]
    assert apply(world, term_days="90").term_days == 90


def test_not_enough_coins_to_hold(world):
    with pytest.raises(InsufficientFunds):
        apply(world, amount="60000", collateral="2.5")


def test_at_most_three_open_loans(world):
    for _ in range(3):
        apply(world, amount="1000", collateral="0.05")
    with pytest.raises(ValidationFailed) as err:
        apply(world, amount="1000", collateral="0.05")
    assert err.value.code == "too_many_loans"
    # a rejected one no longer counts
    first = db.session.scalars(select(Loan).order_by(Loan.id)).first()
    loans.reject(world.officer, first.id, "Collateral source unclear")
    assert apply(world, amount="1000", collateral="0.05").status == "pending"


def test_approval_disburses_from_the_loan_book(world):
    loan = active_loan(world)
    assert loan.status == "active" and loan.due_date is not None
    assert (loan.due_date - loan.disbursed_at.date()).days == 30
    assert balances(world.borrower, "USD")[0] == D("11000")
    entry = db.session.get(JournalEntry, loan.disbursement_entry_id)
    assert entry.kind == "loan"
    book = ledger.platform_account("loans", "USD")
    assert book.balance == D("-10000")
    tx = db.session.scalar(select(Transaction).where(Transaction.transaction_type == "loan"))
    assert tx.amount == D("10000") and tx.entry_id == entry.id
    assert db.session.scalar(select(Notification).where(Notification.kind == "loan_approved")) is not None
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "loan.approved")).actor_id == world.officer.id
    assert ledger.check().ok


def test_above_the_threshold_two_different_staff_must_approve(world, app):
    before = app.config["LOAN_DUAL_APPROVAL_OVER"]
    app.config["LOAN_DUAL_APPROVAL_OVER"] = "5000"
    try:
        loan = apply(world)
        loan = loans.approve(world.officer, loan.id)
        assert loan.status == "pending" and len(loan.approvals) == 1
        with pytest.raises(Conflict) as err:
            loans.approve(world.officer, loan.id)
        assert err.value.code == "already_approved"
        loan = loans.approve(world.officer2, loan.id)
        assert loan.status == "active"
    finally:
        app.config["LOAN_DUAL_APPROVAL_OVER"] = before


def test_nobody_approves_their_own_loan_and_customers_cannot_approve(world, create_staff):
    officer = world.officer
    officer.kyc_status = "approved"
    db.session.commit()
    fund(officer, "BTC", "1")
    own = loans.apply(
        officer,
        {"product": world.product.id, "amount": "1000", "collateral_amount": "0.1", "collateral_currency": "BTC"},
    )
    with pytest.raises(PermissionDenied) as err:
        loans.approve(officer, own.id)
    assert err.value.code == "self_approval"
    with pytest.raises(PermissionDenied):
        loans.approve(world.borrower, own.id)


def test_approval_refused_when_the_price_fell_below_the_margin_call(world):
    loan = apply(world)
    set_btc(world.market, "28000")  # 10000 / (0.5 × 28000) = 71 %
    with pytest.raises(Conflict) as err:
        loans.approve(world.officer, loan.id)
    assert err.value.code == "collateral_short"


def test_rejection_releases_the_collateral_and_stores_the_reason(world):
    loan = apply(world)
    loan = loans.reject(world.officer, loan.id, "  Income could not be verified ")
    assert loan.status == "rejected" and loan.rejection_reason == "Income could not be verified"
    assert balances(world.borrower, "BTC") == (D("2"), D("0"))
    with pytest.raises(IllegalTransition):
        loans.approve(world.officer2, loan.id)
    with pytest.raises(ValidationFailed):
        loans.reject(world.officer, apply(world).id, " ")
    assert ledger.check().ok


def test_products_need_rising_ltvs_and_a_market(world):
    with pytest.raises(ValidationFailed) as err:
        loans.save_product(world.admin, {**PRODUCT, "margin_call_ltv": "40"})
    assert "margin_call_ltv" in err.value.fields
    with pytest.raises(ValidationFailed) as err:
        loans.save_product(world.admin, {**PRODUCT, "collateral_currencies": ["USDT"]})
    assert "No USDT/USD market" in err.value.fields["collateral_currencies"][0]
    with pytest.raises(PermissionDenied):
        loans.save_product(world.borrower, PRODUCT)
    assert world.product.collateral_ratio == D("200.00")


def test_the_customer_withdraws_a_pending_application_and_gets_the_collateral_back(world, create_user):
    loan = apply(world)
    with pytest.raises(NotFound):
        loans.cancel(create_user(), loan.id)  # not theirs
    assert balances(world.borrower, "BTC") == (D("2"), D("0.5"))
    loan = loans.cancel(world.borrower, loan.id)
    assert loan.status == "cancelled" and loan.closed_at is not None
    assert balances(world.borrower, "BTC") == (D("2"), D("0"))
    hold = db.session.get(Hold, loan.hold_id)
    assert (hold.status, hold.remaining) == ("released", D("0"))
    assert [e.kind for e in loans.events(loan.id)][0] == "cancelled"
    with pytest.raises(IllegalTransition):
        loans.cancel(world.borrower, loan.id)  # once
    with pytest.raises(IllegalTransition):
        loans.approve(world.officer, loan.id)  # staff can no longer approve it
    assert loans.pending_count() == 0
    assert ledger.check().ok


def test_an_active_loan_cannot_be_withdrawn(world):
    loan = active_loan(world)
    with pytest.raises(IllegalTransition) as err:
        loans.cancel(world.borrower, loan.id)
    assert "Only a pending application can be withdrawn; this loan is active." in err.value.message
    assert db.session.get(Loan, loan.id).status == "active"
