"""Crypto-backed loans: products, loans with their collateral hold, approvals, accruals, repayments,
liquidations and the events that make a loan's history (LTV, margin calls, staff decisions).

Money columns are in the loan's currency unless they say collateral. A loan's risk triggers are
stored as collateral *prices* (one unit of collateral in the loan currency): ``down_trigger`` is the
price at or below which the next threshold is crossed (the margin call, or once called, the
liquidation), ``up_trigger`` the price at or above which a margin call clears. The LTV check on a
price tick reads only the active loans of that collateral whose trigger the price crossed, through
``ix_loans_active_down`` / ``ix_loans_active_up`` — never a scan of all loans.
"""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tradeapp.extensions import db
from tradeapp.models.funds import Transaction
from tradeapp.models.ledger import Hold
from tradeapp.models.states import Stateful, StateMachine
from tradeapp.models.types import Money, UTCDateTime, utcnow
from tradeapp.models.users import User

LOAN_STATUSES = ("pending", "approved", "active", "repaid", "defaulted", "rejected", "cancelled", "written_off")
#: a loan is open (counts against the three-loan limit and keeps its collateral held) in these
OPEN_STATUSES = ("pending", "approved", "active")
#: pending ──approve (1 or 2 staff)──▶ approved ──disburse (same transaction)──▶ active ──▶ repaid | defaulted;
#: pending ──reject──▶ rejected; pending ──the customer withdraws it──▶ cancelled;
#: defaulted ──the shortfall paid──▶ repaid, or ──staff write it off──▶ written_off
LOAN_STATES = StateMachine(
    "loan",
    {
        "pending": ("approved", "rejected", "cancelled"),
        "approved": ("active",),
        "active": ("repaid", "defaulted"),
        "repaid": (),
        "defaulted": ("repaid", "written_off"),
        "rejected": (),
        "cancelled": (),
        "written_off": (),
    },
)
assert LOAN_STATES.statuses == LOAN_STATUSES

LOAN_EVENT_KINDS = (
    "applied",
    "approval",
    "approved",
    "rejected",
    "accrued",
    "repayment",
    "collateral_added",
    "margin_call",
    "margin_cleared",
    "liquidation",
    "overdue",
    "repaid",
    "defaulted",
    "cancelled",
    "written_off",
)


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class LoanProduct(db.Model):
    """What the broker lends: currency, bounds, rate, term and the LTV thresholds (all in %)."""

    __tablename__ = "loan_products"
    __table_args__ = (
        CheckConstraint("min_amount > 0 AND max_amount >= min_amount", name="amount_bounds"),
        CheckConstraint("interest_rate >= 0", name="rate_non_negative"),
        CheckConstraint("term_days > 0", name="term_positive"),
        CheckConstraint(
            "initial_ltv > 0 AND margin_call_ltv > initial_ltv AND liquidation_ltv > margin_call_ltv "
            "AND liquidation_ltv < 100",
            name="ltv_order",
        ),
        CheckConstraint("liquidation_fee >= 0", name="fee_non_negative"),
        CheckConstraint("grace_days >= 0", name="grace_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    loan_currency: Mapped[str] = mapped_column(String(10), default="USD")
    #: collateral currencies accepted, e.g. ``["BTC", "ETH"]`` (each has an active ``<C>/<loan currency>`` pair)
    collateral_currencies: Mapped[list] = mapped_column(JSON, default=list)
    min_amount: Mapped[Decimal] = mapped_column(Money())
    max_amount: Mapped[Decimal] = mapped_column(Money())
    #: annual %, simple, accrued daily at rate / 365
    interest_rate: Mapped[Decimal] = mapped_column(Money(12, 4))
    #: the default term; ``term_options`` lists every term a customer may choose
    term_days: Mapped[int] = mapped_column()
    term_options: Mapped[list] = mapped_column(JSON, default=list)
    #: debt / collateral value (%) at most at the start; the seed's ``collateral_ratio`` is 100 / initial_ltv × 100
    initial_ltv: Mapped[Decimal] = mapped_column(Money(12, 4))
    margin_call_ltv: Mapped[Decimal] = mapped_column(Money(12, 4))
    liquidation_ltv: Mapped[Decimal] = mapped_column(Money(12, 4))
    #: % of the debt repaid by a liquidation, charged on top
    liquidation_fee: Mapped[Decimal] = mapped_column(Money(12, 4), default=Decimal(2))
    #: days past the due date before an overdue loan is liquidated
    grace_days: Mapped[int] = mapped_column(default=3)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def collateral_ratio(self) -> Decimal:
        """The seed's field: the collateral value required, in % of the amount."""
        return (Decimal(10000) / self.initial_ltv).quantize(Decimal("0.01"))

    @property
    def terms(self) -> list[int]:
        return sorted({int(t) for t in (self.term_options or [])} | {self.term_days})


class Loan(Stateful, db.Model):
    """One customer's loan: principal, accrued interest, the collateral hold and its risk triggers."""

    __states__ = LOAN_STATES

    __tablename__ = "loans"
    __table_args__ = (
        CheckConstraint(_in("status", LOAN_STATUSES), name="status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("collateral_amount >= 0", name="collateral_non_negative"),
        CheckConstraint("principal_outstanding >= 0", name="principal_non_negative"),
        CheckConstraint("interest_accrued >= 0", name="interest_non_negative"),
        Index("ix_loans_user_status", "user_id", "status"),
        Index("ix_loans_status_applied", "status", "applied_at"),
        # The tick check: active loans of one collateral whose trigger the price crossed.
        Index(
            "ix_loans_active_down",
            "collateral_currency",
            "loan_currency",
            "down_trigger",
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
        Index(
            "ix_loans_active_up",
            "collateral_currency",
            "loan_currency",
            "up_trigger",
            postgresql_where=text("status = 'active' AND up_trigger IS NOT NULL"),
            sqlite_where=text("status = 'active' AND up_trigger IS NOT NULL"),
        ),
        Index(
            "ix_loans_active_due",
            "due_date",
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    product_id: Mapped[int] = mapped_column(ForeignKey("loan_products.id", ondelete="RESTRICT"), index=True)
    loan_currency: Mapped[str] = mapped_column(String(10))
    #: the principal lent
    amount: Mapped[Decimal] = mapped_column(Money())
    interest_rate: Mapped[Decimal] = mapped_column(Money(12, 4))
    term_days: Mapped[int] = mapped_column()
    #: collateral still held for this loan (in ``collateral_currency``)
    collateral_amount: Mapped[Decimal] = mapped_column(Money())
    collateral_currency: Mapped[str] = mapped_column(String(10))
    principal_outstanding: Mapped[Decimal] = mapped_column(Money())
    #: interest accrued and not yet paid, at the loan currency's precision
    interest_accrued: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    #: the part of a cent (or satoshi) accrued but not yet a whole unit; carried to the next day
    interest_remainder: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    #: the last day whose interest is accrued (the day before disbursement until the first run)
    accrued_through: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("holds.id", ondelete="RESTRICT"), unique=True)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    disbursed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    due_date: Mapped[date | None] = mapped_column(Date)
    repaid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rejection_reason: Mapped[str] = mapped_column(Text, default="")
    #: the journal entry that paid the principal out
    disbursement_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id", ondelete="RESTRICT"))
    #: LTV (%) when last computed (a change of debt or collateral, a crossing)
    ltv: Mapped[Decimal | None] = mapped_column(Money(12, 4))
    margin_called: Mapped[bool] = mapped_column(default=False)
    #: how many times the loan crossed into a margin call (one notification per crossing)
    margin_calls: Mapped[int] = mapped_column(default=0)
    #: collateral prices at which the margin-call and liquidation LTVs are reached
    margin_price: Mapped[Decimal | None] = mapped_column(Money())
    liquidation_price: Mapped[Decimal | None] = mapped_column(Money())
    down_trigger: Mapped[Decimal | None] = mapped_column(Money())
    up_trigger: Mapped[Decimal | None] = mapped_column(Money())
    #: flagged by the daily job once the due date passed unpaid
    overdue_since: Mapped[date | None] = mapped_column(Date)
    #: what a liquidation could not recover (a defaulted loan)
    shortfall: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    #: bumped on every change: Socket.IO listeners drop stale events
    version: Mapped[int] = mapped_column(default=1)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    product: Mapped[LoanProduct] = relationship()
    hold: Mapped[Hold | None] = relationship()
    approvals: Mapped[list["LoanApproval"]] = relationship(back_populates="loan", order_by="LoanApproval.id")

    @property
    def outstanding_balance(self) -> Decimal:
        """The seed's field: what it takes to repay the loan now (principal + accrued interest)."""
        return self.principal_outstanding + self.interest_accrued

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class LoanApproval(db.Model):
    """One staff approval; above the threshold two different staff must approve."""

    __tablename__ = "loan_approvals"
    __table_args__ = (UniqueConstraint("loan_id", "approver_id", name="uq_loan_approvals_loan_approver"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    approver_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    loan: Mapped[Loan] = relationship(back_populates="approvals")
    approver: Mapped[User] = relationship()


class LoanAccrual(db.Model):
    """One day's interest on one loan; the unique (loan, day) makes the accrual job idempotent."""

    __tablename__ = "loan_accruals"
    __table_args__ = (UniqueConstraint("loan_id", "day", name="uq_loan_accruals_loan_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    principal: Mapped[Decimal] = mapped_column(Money())
    #: added to ``interest_accrued`` (whole units of the currency)
    amount: Mapped[Decimal] = mapped_column(Money())
    #: carried to the next day
    remainder: Mapped[Decimal] = mapped_column(Money())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LoanRepayment(db.Model):
    """A repayment with its split: interest first, then principal (and a liquidation's fee)."""

    __tablename__ = "loan_repayments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("principal_amount >= 0 AND interest_amount >= 0 AND fee_amount >= 0", name="parts"),
        Index("ix_loan_repayments_loan", "loan_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="RESTRICT"))
    #: interest + principal (the fee of a liquidation is on top, in ``fee_amount``)
    amount: Mapped[Decimal] = mapped_column(Money())
    principal_amount: Mapped[Decimal] = mapped_column(Money())
    interest_amount: Mapped[Decimal] = mapped_column(Money())
    fee_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    #: what was asked for when more than was owed (the overpayment not taken)
    requested_amount: Mapped[Decimal] = mapped_column(Money())
    #: ``customer`` or ``liquidation``
    source: Mapped[str] = mapped_column(String(20), default="customer")
    transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id", ondelete="RESTRICT"), unique=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    loan: Mapped[Loan] = relationship()
    transaction: Mapped[Transaction] = relationship()


class LoanLiquidation(db.Model):
    """Collateral sold at market to bring a loan back to its initial LTV, or to close it."""

    __tablename__ = "loan_liquidations"
    __table_args__ = (Index("ix_loan_liquidations_created", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="RESTRICT"), index=True)
    #: ``ltv`` (liquidation LTV reached) or ``overdue`` (past due beyond the grace days)
    reason: Mapped[str] = mapped_column(String(20))
    #: ``partial`` (back to the initial LTV) or ``full``
    scope: Mapped[str] = mapped_column(String(10))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    collateral_sold: Mapped[Decimal] = mapped_column(Money())
    proceeds: Mapped[Decimal] = mapped_column(Money())
    fee: Mapped[Decimal] = mapped_column(Money())
    repaid: Mapped[Decimal] = mapped_column(Money())
    collateral_released: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    shortfall: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    price: Mapped[Decimal] = mapped_column(Money())
    ltv_before: Mapped[Decimal] = mapped_column(Money(12, 4))
    ltv_after: Mapped[Decimal | None] = mapped_column(Money(12, 4))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    loan: Mapped[Loan] = relationship()


class LoanEvent(db.Model):
    """A line of a loan's history: decisions, payments, LTV readings, margin calls."""

    __tablename__ = "loan_events"
    __table_args__ = (
        CheckConstraint(_in("kind", LOAN_EVENT_KINDS), name="kind"),
        Index("ix_loan_events_loan", "loan_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    #: LTV (%) and the collateral price at the time, when known
    ltv: Mapped[Decimal | None] = mapped_column(Money(12, 4))
    price: Mapped[Decimal | None] = mapped_column(Money())
    note: Mapped[str] = mapped_column(String(255), default="")
    data: Mapped[dict | None] = mapped_column(JSON)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
