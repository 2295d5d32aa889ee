"""Demo data for loans: two products (USD against BTC or ETH, 30 and 90 days) and an active loan for
the demo customer, made through the real services (collateral held, disbursed from the loan book)."""

from sqlalchemy import func, select

from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models import Loan, LoanProduct, User
from tradeapp.services.loans import applications

#: the demo seed's accounts (``tradeapp.services.seed``, which imports this module: not imported back)
DEMO_CUSTOMER_EMAIL = "demo@tradeapp.local"
DEMO_ADMIN_EMAIL = "admin@tradeapp.local"

PRODUCTS = [
    {
        "name": "Quick USD loan · 30 days",
        "description": "Dollars against BTC or ETH for a month. Repay any time; interest accrues daily.",
        "loan_currency": "USD",
        "collateral_currencies": ["BTC", "ETH"],
        "min_amount": "100",
        "max_amount": "50000",
        "interest_rate": "9.5",
        "term_days": 30,
        "term_options": [30],
        "initial_ltv": "50",
        "margin_call_ltv": "70",
        "liquidation_ltv": "80",
        "liquidation_fee": "2",
        "grace_days": 3,
    },
    {
        "name": "Flexible USD loan · 90 days",
        "description": "A longer term at a lower LTV: more room before a margin call.",
        "loan_currency": "USD",
        "collateral_currencies": ["BTC", "ETH"],
        "min_amount": "500",
        "max_amount": "100000",
        "interest_rate": "7.9",
        "term_days": 90,
        "term_options": [60, 90],
        "initial_ltv": "40",
        "margin_call_ltv": "65",
        "liquidation_ltv": "75",
        "liquidation_fee": "2.5",
        "grace_days": 5,
    },
]


def seed_demo_loans() -> list[str]:
    """Two products (once) and an active loan for the demo customer (while they have no loans)."""
    admin = db.session.scalar(select(User).where(func.lower(User.email) == DEMO_ADMIN_EMAIL))
    customer = db.session.scalar(select(User).where(func.lower(User.email) == DEMO_CUSTOMER_EMAIL))
    if admin is None or customer is None:
        return []
    created = []
    db.session.commit()  # each service call is its own unit of work
    if not db.session.scalar(select(LoanProduct.id).limit(1)):
        for spec in PRODUCTS:
            product = applications.save_product(admin, spec)
            created.append(f"loan product {product.name}")
    if db.session.scalar(select(Loan.id).where(Loan.user_id == customer.id).limit(1)):
        return created
    product = db.session.scalar(select(LoanProduct).order_by(LoanProduct.id).limit(1))
    try:
        loan = applications.apply(
            customer,
            {"product": product.id, "amount": "2000", "collateral_amount": "0.1", "collateral_currency": "BTC"},
            seeding=True,
        )
        loan = applications.approve(admin, loan.id)
        created.append(
            f"demo loan {loan.amount.normalize():f} {loan.loan_currency} against {loan.collateral_amount.normalize():f} BTC"
        )
    except DomainError as exc:  # no prices right now, or the BTC is not there: the demo starts without a loan
        db.session.rollback()
        created.append(f"demo loan skipped: {exc.message}")
    return created
