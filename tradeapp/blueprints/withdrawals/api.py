"""Withdrawals API: request, list, cancel (customers); pending queue, approve, reject (staff)."""

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
from tradeapp.models import Withdrawal
from tradeapp.services import withdrawals

from .schemas import RejectSchema, WithdrawalRequestSchema, WithdrawalSchema

blp = ApiBlueprint("withdrawals_api", __name__, url_prefix="/api/v1/withdrawals", description="Withdrawals")

MANAGE = withdrawals.MANAGE


def _own_or_404(withdrawal_id: int) -> Withdrawal:
    w = db.session.get(Withdrawal, withdrawal_id)
    if w is None or w.user_id != api_user().id:
        abort(404)
    return w


def _get_or_404(withdrawal_id: int) -> Withdrawal:
    w = db.session.get(Withdrawal, withdrawal_id)
    if w is None:
        abort(404)
    return w


@blp.route("/", methods=["POST"])
@token_required()
@idempotent
@blp.arguments(WithdrawalRequestSchema)
@blp.response(201, WithdrawalSchema)
@blp.alt_response(
    400,
    description="Invalid input (`validation_error`), over the 24-hour limit (`limit_exceeded`), "
    "not enough available balance for amount + fee (`insufficient_funds`), a saved address still cooling off "
    "(`address_cooling_off`) or outside the book in whitelist-only mode (`address_not_whitelisted`), "
    "a missing or wrong two-factor code (`otp_required`, `otp_invalid`)",
)
@blp.alt_response(
    403,
    description="Identity verification required (`kyc_required`); two-factor required above the platform's "
    "amount (`two_factor_required`)",
)
def withdrawal_create(data):
    """Ask to withdraw; amount + fee is held until staff approve and the payout is sent.

    Limits per currency and per 24 hours apply. Send an `Idempotency-Key` header so a retry
    never creates a second withdrawal. With e-mailed confirmation on (the default), the request
    reaches the staff queue only after the customer clicks the e-mailed link; unconfirmed after
    30 minutes, it is cancelled and the funds released.
    """
    return withdrawals.request_withdrawal(
        api_user(),
        data["currency"],
        data["amount"],
        data["destination_type"],
        data["destination_details"],
        otp=data["otp"],
    )


@blp.route("/", methods=["GET"])
@token_required()
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(WithdrawalSchema))
def withdrawals_listing(args):
    """Your withdrawals, newest first."""
    return paginate(withdrawals.user_withdrawals_query(api_user()))


@blp.route("/<int:withdrawal_id>/", methods=["GET"])
@token_required()
@blp.doc(parameters=[id_parameter("withdrawal_id", "The withdrawal's id.")])
@blp.response(200, WithdrawalSchema)
@blp.alt_response(404, description="No such withdrawal of yours")
def withdrawal_detail(withdrawal_id):
    """One of your withdrawals (poll it while pending)."""
    return _own_or_404(withdrawal_id)


@blp.route("/pending/", methods=["GET"])
@token_required(MANAGE)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(WithdrawalSchema))
def withdrawals_pending(args):
    """Staff: withdrawals awaiting approval, oldest first."""
    return paginate(withdrawals.pending_query())


@blp.route("/<int:withdrawal_id>/approve/", methods=["POST"])
@token_required(MANAGE)
@blp.response(200, WithdrawalSchema)
@blp.alt_response(404, description="No such withdrawal")
@blp.alt_response(403, description="Your own withdrawal (`self_approval`) or no permission (`permission_denied`)")
@blp.alt_response(
    409, description="Already approved by you (`already_approved`) or no longer pending (`illegal_transition`)"
)
def withdrawal_approve(withdrawal_id):
    """Staff: approve. Above the dual-approval threshold a second, different approver is needed;
    once fully approved the payout is queued."""
    w = withdrawals.approve_withdrawal(api_user(), _get_or_404(withdrawal_id))
    db.session.refresh(w)
    return w


@blp.route("/<int:withdrawal_id>/reject/", methods=["POST"])
@token_required(MANAGE)
@blp.arguments(RejectSchema)
@blp.response(200, WithdrawalSchema)
@blp.alt_response(404, description="No such withdrawal")
@blp.alt_response(409, description="Already processing or decided (`illegal_transition`)")
def withdrawal_reject(data, withdrawal_id):
    """Staff: reject with a reason for the customer; the held funds are released."""
    return withdrawals.reject_withdrawal(api_user(), _get_or_404(withdrawal_id), data["reason"])


@blp.route("/<int:withdrawal_id>/cancel/", methods=["POST"])
@token_required()
@blp.response(200, WithdrawalSchema)
@blp.alt_response(404, description="No such withdrawal of yours")
@blp.alt_response(409, description="No longer pending (`illegal_transition`)")
def withdrawal_cancel(withdrawal_id):
    """Cancel your withdrawal while it is pending; the held funds are released."""
    return withdrawals.cancel_withdrawal(api_user(), _own_or_404(withdrawal_id))
