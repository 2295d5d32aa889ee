"""Staff deposits queue: pending bank and crypto deposits, confirmed or rejected row by row."""

from flask import Blueprint, url_for
from flask_login import current_user

from tradeapp.blueprints.deposits.forms import ConfirmDepositForm, RejectDepositForm
from tradeapp.blueprints.deposits.payment_details import public_details
from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models.funds import Deposit
from tradeapp.services import deposits
from tradeapp.templating import money
from tradeapp.web import get_or_404, render, staff_required, swap_row

bp = Blueprint("staff_deposits", __name__, url_prefix="/staff/deposits")


QUEUE_LIMIT = 200


def _row_context(deposit: Deposit, **extra) -> dict:
    return {
        "d": deposit,
        "details": public_details,
        "confirm_form": extra.pop("confirm_form", None) or ConfirmDepositForm(formdata=None),
        "reject_form": extra.pop("reject_form", None) or RejectDepositForm(formdata=None),
        **extra,
    }


@bp.get("/")
@staff_required("deposits.manage")
def deposits_queue():
    """Pending bank and crypto deposits, oldest first, with their age; flagged card refunds below."""
    rows = db.session.scalars(deposits.pending_queue_query().limit(QUEUE_LIMIT)).all()
    return render(
        "staff/deposits/queue.html",
        "staff/deposits/_rows.html",
        rows=rows,
        total=deposits.pending_count(),
        attention=deposits.attention_query(),
        row=_row_context,
    )


def _row(deposit: Deposit, notice: str | None = None, error: str | None = None, form=None, **forms):
    """The refreshed row (with a toast) for HTMX; a redirect back to the queue otherwise.

    ``form`` is the refused form: its messages make the error when the service gave none.
    """
    if form is not None and error is None:
        error = "Check the form: " + "; ".join(form.error_messages())
    context = _row_context(deposit, **forms)
    url = url_for("staff_deposits.deposits_queue")
    return swap_row("staff/deposits/_row.html", redirect_to=url, notice=notice, error=error, **context)


@bp.post("/<int:deposit_id>/confirm")
@staff_required("deposits.manage")
def deposit_confirm(deposit_id: int):
    """Credit a pending deposit (optionally the different amount received; crypto needs the tx hash)."""
    deposit = get_or_404(Deposit, deposit_id)
    form = ConfirmDepositForm()
    if not form.validate():
        return _row(deposit, form=form, confirm_form=form)
    try:
        deposit = deposits.confirm_deposit(current_user, deposit, form.amount.data or None, form.tx_hash.data or None)
    except DomainError as exc:
        db.session.refresh(deposit)
        return _row(deposit, error=None if form.show_errors(exc.fields) else exc.message, form=form, confirm_form=form)
    return _row(
        deposit,
        f"Deposit #{deposit.id} confirmed: {money(deposit.credited_amount, deposit.currency)} {deposit.currency} credited.",
    )


@bp.post("/<int:deposit_id>/reject")
@staff_required("deposits.manage")
def deposit_reject(deposit_id: int):
    """Reject a pending deposit with a reason the customer sees."""
    deposit = get_or_404(Deposit, deposit_id)
    form = RejectDepositForm()
    if not form.validate():
        return _row(deposit, form=form, reject_form=form)
    try:
        deposit = deposits.reject_deposit(current_user, deposit, form.reason.data)
    except DomainError as exc:
        db.session.refresh(deposit)
        return _row(deposit, error=None if form.show_errors(exc.fields) else exc.message, form=form, reject_form=form)
    return _row(deposit, f"Deposit #{deposit.id} rejected.")
