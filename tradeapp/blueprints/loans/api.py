"""Loans API (spec 3.8 and the router's ``loan-products``, ``loans``, ``loan-repayments``): products,
apply, my loans, repay, add collateral, schedule; the staff queue, approve and reject."""

from flask import abort

from tradeapp.blueprints.api import (
    ApiBlueprint,
    PageArgsSchema,
    api_user,
    id_parameter,
    page_schema,
    paginate,
    token_required,
)
from tradeapp.blueprints.api.idempotency import idempotent
from tradeapp.extensions import db
from tradeapp.models import Loan, LoanProduct, LoanRepayment
from tradeapp.services import loans
from tradeapp.services.wallets import fmt

from .schemas import (
    DecisionSchema,
    LoanAmountSchema,
    LoanApplySchema,
    LoanProductSchema,
    LoanRejectSchema,
    LoanRepaymentSchema,
    LoanSchema,
    LoanWriteOffSchema,
    RepayResultSchema,
    ScheduleSchema,
)

MANAGE = loans.MANAGE

products_blp = ApiBlueprint(
    "loan_products_api", __name__, url_prefix="/api/v1/loan-products", description="Loan products"
)
blp = ApiBlueprint("loans_api", __name__, url_prefix="/api/v1/loans", description="Crypto-backed loans")
repayments_blp = ApiBlueprint(
    "loan_repayments_api", __name__, url_prefix="/api/v1/loan-repayments", description="Loan repayments"
)

LOAN_ID = [id_parameter("loan_id", "The loan's id.")]


def _own_or_404(loan_id: int) -> Loan:
    loan = db.session.get(Loan, loan_id)
    if loan is None or loan.user_id != api_user().id:
        abort(404)
    return loan


def _get_or_404(loan_id: int) -> Loan:
    loan = db.session.get(Loan, loan_id)
    if loan is None:
        abort(404)
    return loan


# -- products ------------------------------------------------------------------------------------


@products_blp.route("/", methods=["GET"])
@token_required()
@products_blp.arguments(PageArgsSchema, location="query")
@products_blp.response(200, page_schema(LoanProductSchema))
def loan_products_listing(args):
    """Loan products open for applications."""
    return paginate(loans.products_query())


@products_blp.route("/<int:product_id>/", methods=["GET"])
@token_required()
@products_blp.doc(parameters=[id_parameter("product_id", "The product's id.")])
@products_blp.response(200, LoanProductSchema)
@products_blp.alt_response(404, description="No such active product")
def loan_product_detail(product_id):
    """One active loan product."""
    product = db.session.get(LoanProduct, product_id)
    if product is None or not product.is_active:
        abort(404)
    return product


# -- loans ---------------------------------------------------------------------------------------


@blp.route("/", methods=["POST"])
@token_required()
@idempotent
@blp.arguments(LoanApplySchema)
@blp.response(201, LoanSchema)
@blp.alt_response(
    400,
    description="Invalid input (`validation_error`), too little collateral at the live price "
    "(`insufficient_collateral`, the message says the minimum), three open loans (`too_many_loans`) or "
    "not enough available collateral (`insufficient_funds`)",
)
@blp.alt_response(403, description="Identity verification required (`kyc_required`)")
@blp.alt_response(503, description="No fresh price for the collateral (`price_unavailable`)")
def loan_apply(data):
    """Apply for a loan; the collateral is held at once until the loan is rejected or repaid.

    The collateral's market value (live price, in the loan currency) must meet the product's initial
    LTV. Send an `Idempotency-Key` header so a retry never applies twice.
    """
    return loans.apply(api_user(), data)


@blp.route("/", methods=["GET"])
@token_required()
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(LoanSchema))
def loans_listing(args):
    """Your loans, newest first."""
    return paginate(loans.user_loans_query(api_user()))


@blp.route("/pending/", methods=["GET"])
@token_required(MANAGE)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(LoanSchema))
def loans_pending(args):
    """Staff: applications awaiting a decision, oldest first."""
    return paginate(loans.pending_query())


@blp.route("/<int:loan_id>/", methods=["GET"])
@token_required()
@blp.doc(parameters=LOAN_ID)
@blp.response(200, LoanSchema)
@blp.alt_response(404, description="No such loan of yours")
def loan_detail(loan_id):
    """One of your loans, with its live LTV."""
    return _own_or_404(loan_id)


@blp.route("/<int:loan_id>/schedule/", methods=["GET"])
@token_required()
@blp.doc(parameters=LOAN_ID)
@blp.response(200, ScheduleSchema)
@blp.alt_response(404, description="No such loan of yours")
def loan_schedule(loan_id):
    """What is due and when: interest by month to the due date, and the final payment on it."""
    loan = _own_or_404(loan_id)
    rows = [
        {
            "from": r["from"],
            "to": r["to"],
            "interest": fmt(r["interest"], loan.loan_currency),
            "due": fmt(r["due"], loan.loan_currency) if r["due"] is not None else None,
        }
        for r in loans.loan_schedule(loan)
    ]
    return {"loan": loan.id, "due_date": loan.due_date, "currency": loan.loan_currency, "rows": rows}


@blp.route("/<int:loan_id>/repay/", methods=["POST"])
@token_required()
@idempotent
@blp.arguments(LoanAmountSchema)
@blp.doc(parameters=LOAN_ID)
@blp.response(200, RepayResultSchema)
@blp.alt_response(400, description="Bad amount or not enough available balance (`insufficient_funds`)")
@blp.alt_response(404, description="No such loan of yours")
@blp.alt_response(409, description="The loan is not active (`illegal_transition`)")
def loan_repay(data, loan_id):
    """Repay from your wallet in the loan currency: accrued interest first, then principal.

    More than is owed is never taken: the answer's `capped` says how much stayed in your wallet.
    Paid off, the loan is `repaid` and the collateral released. Send an `Idempotency-Key`.
    """
    loan = _own_or_404(loan_id)
    result = loans.repay(api_user(), loan.id, data["amount"])
    return {
        "message": result.message,
        "outstanding_balance": fmt(result.loan.outstanding_balance, result.loan.loan_currency),
        "capped": fmt(result.capped, result.loan.loan_currency),
        "repayment": result.repayment,
        "loan": result.loan,
    }


@blp.route("/<int:loan_id>/add-collateral/", methods=["POST"])
@token_required()
@idempotent
@blp.arguments(LoanAmountSchema)
@blp.doc(parameters=LOAN_ID)
@blp.response(200, LoanSchema)
@blp.alt_response(400, description="Bad amount or not enough available collateral (`insufficient_funds`)")
@blp.alt_response(404, description="No such loan of yours")
@blp.alt_response(409, description="The loan is closed (`illegal_transition`)")
def loan_add_collateral(data, loan_id):
    """Hold more collateral against the loan (answers a margin call); the LTV falls at once."""
    loan = _own_or_404(loan_id)
    return loans.add_collateral(api_user(), loan.id, data["amount"])


@blp.route("/<int:loan_id>/cancel/", methods=["POST"])
@token_required()
@blp.doc(parameters=LOAN_ID)
@blp.response(200, LoanSchema)
@blp.alt_response(404, description="No such loan of yours")
@blp.alt_response(409, description="No longer pending (`illegal_transition`)")
def loan_cancel(loan_id):
    """Withdraw your pending application: it ends `cancelled` and the collateral is released."""
    loan = _own_or_404(loan_id)
    return loans.cancel(api_user(), loan.id)


@blp.route("/<int:loan_id>/approve/", methods=["POST"])
@token_required(MANAGE)
@blp.doc(parameters=LOAN_ID)
@blp.response(200, DecisionSchema)
@blp.alt_response(404, description="No such loan")
@blp.alt_response(403, description="Your own loan (`self_approval`) or no permission (`permission_denied`)")
@blp.alt_response(
    409,
    description="Already approved by you (`already_approved`), not pending (`illegal_transition`), or the "
    "collateral no longer covers the loan at the live price (`collateral_short`)",
)
def loan_approve(loan_id):
    """Staff: approve. Above the threshold a second, different approver is needed; the last approval
    disburses the loan from the platform's loan book."""
    loan = loans.approve(api_user(), _get_or_404(loan_id).id)
    message = "Loan approved and disbursed" if loan.status == "active" else "Approval recorded; a second is needed"
    return {"message": message, "loan": loan}


@blp.route("/<int:loan_id>/reject/", methods=["POST"])
@token_required(MANAGE)
@blp.arguments(LoanRejectSchema)
@blp.doc(parameters=LOAN_ID)
@blp.response(200, DecisionSchema)
@blp.alt_response(404, description="No such loan")
@blp.alt_response(409, description="Not pending (`illegal_transition`)")
def loan_reject(data, loan_id):
    """Staff: reject with a reason for the customer; the collateral is released."""
    loan = loans.reject(api_user(), _get_or_404(loan_id).id, data["reason"])
    return {"message": "Loan rejected", "loan": loan}


@blp.route("/<int:loan_id>/write-off/", methods=["POST"])
@token_required(MANAGE)
@blp.arguments(LoanWriteOffSchema)
@blp.doc(parameters=LOAN_ID)
@blp.response(200, DecisionSchema)
@blp.alt_response(404, description="No such loan")
@blp.alt_response(409, description="Not defaulted (`illegal_transition`)")
def loan_write_off(data, loan_id):
    """Staff: write off a defaulted loan's shortfall with a `reason`; its principal leaves the loan book."""
    loan = loans.write_off(api_user(), _get_or_404(loan_id).id, data["reason"])
    return {"message": "Loan written off", "loan": loan}


# -- repayments ----------------------------------------------------------------------------------


@repayments_blp.route("/", methods=["GET"])
@token_required()
@repayments_blp.arguments(PageArgsSchema, location="query")
@repayments_blp.response(200, page_schema(LoanRepaymentSchema))
def loan_repayments_listing(args):
    """Your loan repayments (yours and liquidations'), newest first."""
    return paginate(loans.repayments_query(api_user()))


@repayments_blp.route("/<int:repayment_id>/", methods=["GET"])
@token_required()
@repayments_blp.doc(parameters=[id_parameter("repayment_id", "The repayment's id.")])
@repayments_blp.response(200, LoanRepaymentSchema)
@repayments_blp.alt_response(404, description="No such repayment of yours")
def loan_repayment_detail(repayment_id):
    """One repayment with its split and history line."""
    repayment = db.session.get(LoanRepayment, repayment_id)
    if repayment is None or repayment.loan.user_id != api_user().id:
        abort(404)
    return repayment
