"""Reads for the pages and the API: lists, the staff queue, delinquency and liquidations."""

from collections import Counter
from datetime import date

from sqlalchemy import func, select

from tradeapp.extensions import db
from tradeapp.models import AuditLog, JournalEntry, Loan, LoanEvent, LoanLiquidation, LoanProduct, LoanRepayment, User
from tradeapp.services.loans import calc
from tradeapp.services.loans.common import collateral_rate, quantum


def user_loans_query(user: User, status: str | None = None):
    query = select(Loan).where(Loan.user_id == user.id)
    if status:
        query = query.where(Loan.status == status)
    return query.order_by(Loan.applied_at.desc(), Loan.id.desc())


def pending_query():
    """Applications awaiting a decision, oldest first."""
    return select(Loan).where(Loan.status == "pending").order_by(Loan.applied_at, Loan.id)


def pending_count() -> int:
    """The staff queue's length (the ``loans`` counter, pushed after every change of a loan)."""
    return db.session.scalar(select(func.count()).select_from(Loan).where(Loan.status == "pending"))


def repayments_query(user: User | None = None, loan_id: int | None = None):
    query = select(LoanRepayment).join(Loan, Loan.id == LoanRepayment.loan_id)
    if user is not None:
        query = query.where(Loan.user_id == user.id)
    if loan_id is not None:
        query = query.where(LoanRepayment.loan_id == loan_id)
    return query.order_by(LoanRepayment.created_at.desc(), LoanRepayment.id.desc())


def products_query(active_only: bool = True):
    query = select(LoanProduct)
    if active_only:
        query = query.where(LoanProduct.is_active)
    return query.order_by(LoanProduct.id)


def live_view(loan: Loan) -> dict:
    """The loan's LTV at the live price (None without a price), its thresholds and the due figures."""
    found = collateral_rate(loan.collateral_currency, loan.loan_currency)
    price = found.value if found is not None else None
    ltv = (
        calc.ltv(loan.outstanding_balance, loan.collateral_amount, price) if price and loan.collateral_amount else None
    )
    return {
        "price": price,
        "stale": bool(found and found.stale),
        "ltv": ltv,
        "collateral_value": (loan.collateral_amount * price).quantize(quantum(loan.loan_currency)) if price else None,
        "initial_ltv": loan.product.initial_ltv,
        "margin_call_ltv": loan.product.margin_call_ltv,
        "liquidation_ltv": loan.product.liquidation_ltv,
        "zone": _zone(ltv, loan.product),
    }


def _zone(ltv, product: LoanProduct) -> str:
    if ltv is None:
        return "unknown"
    if ltv >= product.liquidation_ltv:
        return "liquidation"
    if ltv >= product.margin_call_ltv:
        return "margin"
    return "healthy"


def loan_schedule(loan: Loan) -> list[dict]:
    """What is due and when (projected to the due date; one payment at the term's end)."""
    if loan.status != "active" or loan.due_date is None or loan.accrued_through is None:
        return []
    return calc.schedule(
        loan.principal_outstanding,
        loan.interest_accrued,
        loan.interest_rate,
        loan.accrued_through,
        loan.due_date,
        quantum(loan.loan_currency),
    )


def events(loan_id: int, limit: int = 200) -> list[LoanEvent]:
    return list(
        db.session.scalars(
            select(LoanEvent).where(LoanEvent.loan_id == loan_id).order_by(LoanEvent.id.desc()).limit(limit)
        )
    )


def ltv_history(loan_id: int, limit: int = 200) -> list[LoanEvent]:
    return [e for e in events(loan_id, limit) if e.ltv is not None]


def ledger_entries(loan_id: int) -> list[JournalEntry]:
    return list(
        db.session.scalars(
            select(JournalEntry).where(JournalEntry.reference == f"loan:{loan_id}").order_by(JournalEntry.id)
        )
    )


def audit_rows(loan_id: int) -> list[AuditLog]:
    return list(
        db.session.scalars(
            select(AuditLog)
            .where(AuditLog.target_type == "loans", AuditLog.target_id == str(loan_id))
            .order_by(AuditLog.id.desc())
        )
    )


def delinquency(today: date) -> dict:
    """Active loans past due, by bucket (1-30, 31-60, 60+ days), oldest first."""
    loans = list(
        db.session.scalars(
            select(Loan).where(Loan.status == "active", Loan.due_date < today).order_by(Loan.due_date, Loan.id)
        )
    )
    buckets: dict[str, list[Loan]] = {"1-30": [], "31-60": [], "60+": []}
    for loan in loans:
        buckets[calc.delinquency_bucket(loan.due_date, today)].append(loan)
    return buckets


def liquidations_query():
    return select(LoanLiquidation).order_by(LoanLiquidation.created_at.desc(), LoanLiquidation.id.desc())


def status_counts() -> Counter:
    return Counter(dict(db.session.execute(select(Loan.status, func.count()).group_by(Loan.status)).all()))
