"""Marshmallow schemas of the loans API: the seed's LoanProduct, Loan and LoanRepayment serializers
(spec 7.7) plus what the seed lacks (currencies, LTV thresholds, the live LTV, approvals)."""

from decimal import Decimal

import marshmallow as ma
from marshmallow import fields, validate

from tradeapp.blueprints.api import AmountField, IdField
from tradeapp.blueprints.funds.schemas import TransactionSchema
from tradeapp.models.loans import LOAN_STATUSES
from tradeapp.services import loans
from tradeapp.services.wallets import fmt

AMOUNT_DOC = {"type": "string", "example": "1000.00", "description": "Decimal string, the currency's precision."}
PERCENT_DOC = {"type": "string", "example": "12.00", "description": "Percent, two decimals."}


def _pct(value: Decimal | None) -> str | None:
    return None if value is None else format(Decimal(value).quantize(Decimal("0.01")), "f")


def _money(attr: str, currency_attr: str, description: str = ""):
    return fields.Function(
        lambda obj: fmt(getattr(obj, attr), getattr(obj, currency_attr)),
        dump_only=True,
        metadata={**AMOUNT_DOC, **({"description": description} if description else {})},
    )


def _percent(attr: str, description: str = ""):
    return fields.Function(
        lambda obj: _pct(getattr(obj, attr)),
        dump_only=True,
        metadata={**PERCENT_DOC, **({"description": description} if description else {})},
    )


class LoanProductSchema(ma.Schema):
    """The seed's LoanProductSerializer, plus the currencies, terms and LTV thresholds."""

    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    min_amount = _money("min_amount", "loan_currency")
    max_amount = _money("max_amount", "loan_currency")
    interest_rate = _percent("interest_rate", "Annual %, accrued daily at rate / 365.")
    term_days = fields.Integer(dump_only=True, metadata={"description": "The default term."})
    collateral_ratio = _percent("collateral_ratio", "Collateral value required, % of the amount (100 / initial LTV).")
    is_active = fields.Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    loan_currency = fields.String(dump_only=True)
    collateral_currencies = fields.List(fields.String(), dump_only=True)
    term_options = fields.Function(
        lambda p: p.terms, dump_only=True, metadata={"type": "array", "items": {"type": "integer"}}
    )
    initial_ltv = _percent("initial_ltv", "Highest loan-to-value at the start.")
    margin_call_ltv = _percent("margin_call_ltv", "At this LTV the customer is asked to add collateral or repay.")
    liquidation_ltv = _percent("liquidation_ltv", "At this LTV collateral is sold to restore the initial LTV.")
    liquidation_fee = _percent("liquidation_fee", "% of what a liquidation repays, charged on top.")
    grace_days = fields.Integer(dump_only=True, metadata={"description": "Days past due before liquidation."})


class LoanSchema(ma.Schema):
    """The seed's LoanSerializer, plus the currency, the split of what is owed, the live LTV and approvals."""

    id = fields.Integer(dump_only=True)
    product = fields.Integer(attribute="product_id", dump_only=True)
    product_detail = fields.Nested(LoanProductSchema, attribute="product", dump_only=True)
    amount = _money("amount", "loan_currency", "The principal lent.")
    interest_rate = _percent("interest_rate")
    term_days = fields.Integer(dump_only=True)
    collateral_amount = fields.Function(
        lambda loan: fmt(loan.collateral_amount, loan.collateral_currency), dump_only=True, metadata=AMOUNT_DOC
    )
    collateral_currency = fields.String(dump_only=True)
    outstanding_balance = _money("outstanding_balance", "loan_currency", "Principal + accrued interest: repays it now.")
    status = fields.String(dump_only=True, metadata={"enum": list(LOAN_STATUSES)})
    applied_at = fields.DateTime(dump_only=True)
    approved_at = fields.DateTime(dump_only=True, allow_none=True)
    disbursed_at = fields.DateTime(dump_only=True, allow_none=True)
    due_date = fields.Date(dump_only=True, allow_none=True)
    repaid_at = fields.DateTime(dump_only=True, allow_none=True)
    loan_currency = fields.String(dump_only=True)
    principal_outstanding = _money("principal_outstanding", "loan_currency")
    interest_accrued = _money("interest_accrued", "loan_currency", "Accrued through `accrued_through`.")
    accrued_through = fields.Date(dump_only=True, allow_none=True)
    ltv = fields.Function(
        lambda loan: _pct(loans.live_view(loan)["ltv"]) if loan.status in ("pending", "active") else None,
        dump_only=True,
        metadata={**PERCENT_DOC, "nullable": True, "description": "LTV now, at the live price (open loans)."},
    )
    margin_called = fields.Boolean(dump_only=True)
    overdue = fields.Function(lambda loan: loan.overdue_since is not None, dump_only=True, metadata={"type": "boolean"})
    shortfall = _money("shortfall", "loan_currency", "What a liquidation could not recover (defaulted loans).")
    rejection_reason = fields.String(dump_only=True)
    approvals = fields.Function(lambda loan: len(loan.approvals), dump_only=True, metadata={"type": "integer"})
    approvals_required = fields.Function(
        lambda loan: loans.approvals_required(loan),
        dump_only=True,
        metadata={"type": "integer", "description": "1, or 2 different staff above the threshold."},
    )


class LoanApplySchema(ma.Schema):
    """``POST /loans/``: the seed's fields; ``term_days`` optional (one the product allows)."""

    product = IdField(required=True, metadata={"description": "The loan product's id."})
    amount = AmountField(required=True, metadata={"example": "1000.00"})
    collateral_amount = AmountField(required=True, metadata={"example": "0.05"})
    collateral_currency = fields.String(required=True, validate=validate.Length(max=10), metadata={"example": "BTC"})
    term_days = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=3650), strict=False
    )


class LoanAmountSchema(ma.Schema):
    """``POST /loans/{id}/repay/`` and ``/add-collateral/``."""

    amount = AmountField(required=True, metadata={"example": "100.00"})


class LoanRejectSchema(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class LoanWriteOffSchema(LoanRejectSchema):
    """Why the shortfall is written off (kept in the loan's history and the audit log)."""


class LoanRepaymentSchema(ma.Schema):
    """The seed's LoanRepaymentSerializer, plus the fee (liquidations), what was asked and the source."""

    id = fields.Integer(dump_only=True)
    loan = fields.Integer(attribute="loan_id", dump_only=True)
    amount = fields.Function(lambda r: fmt(r.amount, r.loan.loan_currency), dump_only=True, metadata=AMOUNT_DOC)
    principal_amount = fields.Function(
        lambda r: fmt(r.principal_amount, r.loan.loan_currency), dump_only=True, metadata=AMOUNT_DOC
    )
    interest_amount = fields.Function(
        lambda r: fmt(r.interest_amount, r.loan.loan_currency), dump_only=True, metadata=AMOUNT_DOC
    )
    fee_amount = fields.Function(lambda r: fmt(r.fee_amount, r.loan.loan_currency), dump_only=True, metadata=AMOUNT_DOC)
    requested_amount = fields.Function(
        lambda r: fmt(r.requested_amount, r.loan.loan_currency), dump_only=True, metadata=AMOUNT_DOC
    )
    source = fields.String(dump_only=True, metadata={"enum": ["customer", "liquidation"]})
    transaction = fields.Integer(attribute="transaction_id", dump_only=True)
    transaction_detail = fields.Nested(TransactionSchema, attribute="transaction", dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class RepayResultSchema(ma.Schema):
    """The seed's ``{message, outstanding_balance}``, with the repayment, the capped overpayment and the loan."""

    message = fields.String(dump_only=True)
    outstanding_balance = fields.String(dump_only=True, metadata=AMOUNT_DOC)
    capped = fields.String(dump_only=True, metadata={**AMOUNT_DOC, "description": "Overpayment not taken."})
    repayment = fields.Nested(LoanRepaymentSchema, dump_only=True)
    loan = fields.Nested(LoanSchema, dump_only=True)


class DecisionSchema(ma.Schema):
    """Approve/reject: the seed's ``message`` beside the decided loan."""

    message = fields.String(dump_only=True)
    loan = fields.Nested(LoanSchema, dump_only=True)


class ScheduleRowSchema(ma.Schema):
    start = fields.Date(attribute="from", data_key="from", dump_only=True)
    end = fields.Date(attribute="to", data_key="to", dump_only=True)
    interest = fields.String(dump_only=True, metadata=AMOUNT_DOC)
    due = fields.String(dump_only=True, allow_none=True, metadata=AMOUNT_DOC)


class ScheduleSchema(ma.Schema):
    loan = fields.Integer(dump_only=True)
    due_date = fields.Date(dump_only=True, allow_none=True)
    currency = fields.String(dump_only=True)
    rows = fields.List(fields.Nested(ScheduleRowSchema), dump_only=True)
