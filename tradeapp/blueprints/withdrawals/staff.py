"""Staff withdrawals queue: approve or reject (rows swap), manual bank payouts and their CSV export."""

import csv
import io

from flask import Blueprint, Response, url_for
from flask_login import current_user

from tradeapp.blueprints.staff.forms import EmptyForm
from tradeapp.extensions import db
from tradeapp.models import Withdrawal
from tradeapp.models.types import utcnow
from tradeapp.services import withdrawals
from tradeapp.services.wallets import fmt
from tradeapp.web import attempt, get_or_404, render, staff_required, swap_row

from .forms import PayoutFailedForm, RejectForm

bp = Blueprint("staff_withdrawals", __name__, url_prefix="/staff/withdrawals")

MANAGE = withdrawals.MANAGE
QUEUE_SIZE = 100


def _row_context(w: Withdrawal, **extra) -> dict:
    return {
        "w": w,
        "facts": withdrawals.risk_facts(w.user),
        "required": withdrawals.approvals_required(w),
        "usd": withdrawals.to_usd(w.amount, w.currency),
        "approve_form": EmptyForm(formdata=None),
        "reject_form": extra.pop("reject_form", None) or RejectForm(formdata=None),
        "failed_form": extra.pop("failed_form", None) or PayoutFailedForm(formdata=None),
        "now": utcnow(),
        **extra,
    }


@bp.get("/")
@staff_required(MANAGE)
def withdrawals_queue():
    """Pending withdrawals, oldest first, with the facts a reviewer weighs; manual payouts below."""
    pending = db.session.scalars(withdrawals.pending_query().limit(QUEUE_SIZE)).all()
    manual = db.session.scalars(withdrawals.awaiting_manual_query().limit(QUEUE_SIZE)).all()
    return render(
        "staff/withdrawals/queue.html",
        "staff/withdrawals/_queue.html",
        pending=[_row_context(w) for w in pending],
        manual=[_row_context(w) for w in manual],
        pending_total=withdrawals.pending_count(),
        threshold=withdrawals.dual_approval_threshold(),
    )


def _row(w: Withdrawal, manual: bool = False, reject_form=None, failed_form=None, **answer):
    """The refreshed row (with a toast) for HTMX; a redirect back to the queue otherwise."""
    db.session.expire_all()  # what the refused or committed action left in memory
    template = "staff/withdrawals/_manual_row.html" if manual else "staff/withdrawals/_row.html"
    context = _row_context(w, reject_form=reject_form, failed_form=failed_form)
    return swap_row(template, redirect_to=url_for("staff_withdrawals.withdrawals_queue"), **answer, **context)


@bp.post("/<int:withdrawal_id>/approve")
@staff_required(MANAGE)
def withdrawal_approve(withdrawal_id: int):
    """Approve (first or second of two); the payout is queued once fully approved."""
    w = get_or_404(Withdrawal, withdrawal_id)
    approved, error = attempt(EmptyForm(), lambda: withdrawals.approve_withdrawal(current_user, w))
    if error:
        return _row(w, error=error)
    w = approved
    if w.status == "pending":
        notice = f"Approved: {len(w.approvals)} of {withdrawals.approvals_required(w)} approvals."
    else:
        notice = "Approved: the payout has been queued."
    return _row(w, notice=notice)


@bp.post("/<int:withdrawal_id>/reject")
@staff_required(MANAGE)
def withdrawal_reject(withdrawal_id: int):
    """Reject with a preset reason and/or free text; the customer is told."""
    w = get_or_404(Withdrawal, withdrawal_id)
    form = RejectForm()
    _, error = attempt(form, lambda: withdrawals.reject_withdrawal(current_user, w, form.reason()), form.NO_REASON)
    if error:
        return _row(w, error=error, reject_form=form)
    return _row(w, notice="Rejected: the funds were released and the customer told.")


@bp.post("/<int:withdrawal_id>/paid")
@staff_required(MANAGE)
def withdrawal_mark_paid(withdrawal_id: int):
    """A manual bank payout went out: settle it."""
    w = get_or_404(Withdrawal, withdrawal_id)
    _, error = attempt(EmptyForm(), lambda: withdrawals.mark_payout_paid(current_user, w))
    if error:
        return _row(w, error=error, manual=True)
    return _row(w, notice="Marked paid.", manual=True)


@bp.post("/<int:withdrawal_id>/failed")
@staff_required(MANAGE)
def withdrawal_mark_failed(withdrawal_id: int):
    """A manual bank payout could not be made: release the funds and tell the customer."""
    w = get_or_404(Withdrawal, withdrawal_id)
    form = PayoutFailedForm()
    _, error = attempt(form, lambda: withdrawals.mark_payout_failed(current_user, w, form.reason.data), form.NO_REASON)
    if error:
        return _row(w, error=error, manual=True, failed_form=form)
    return _row(w, notice="Marked failed: the funds were released.", manual=True)


CSV_COLUMNS = [
    "withdrawal_id",
    "reference",
    "created_at",
    "customer_email",
    "account_holder",
    "iban",
    "bank_name",
    "currency",
    "amount",
]


def _csv_safe(value) -> str:
    """Spreadsheets run cells starting with = + - @: quote them."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.get("/export.csv")
@staff_required(MANAGE)
def withdrawals_export():
    """Bank withdrawals awaiting manual payment, for finance's bank upload (audited)."""
    rows = db.session.scalars(
        withdrawals.awaiting_manual_query().where(Withdrawal.destination_type == "bank_account")
    ).all()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for w in rows:
        d = w.destination_details or {}
        writer.writerow(
            [
                w.id,
                w.payout_ref or "",
                w.created_at.isoformat(),
                _csv_safe(w.user.email),
                _csv_safe(d.get("account_holder", "")),
                _csv_safe(d.get("iban", "")),
                _csv_safe(d.get("bank_name", "")),
                w.currency,
                fmt(w.amount, w.currency),
            ]
        )
    withdrawals.record_manual_export(current_user, [w.id for w in rows])
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="withdrawals-{stamp}.csv"'},
    )
