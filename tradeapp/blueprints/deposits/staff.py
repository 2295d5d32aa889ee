"""Staff deposits queue: pending bank and crypto deposits, confirmed or rejected row by row."""

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user

from tradeapp.blueprints.deposits.forms import ConfirmDepositForm, RejectDepositForm
from tradeapp.blueprints.deposits.payment_details import public_details
from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models.funds import Deposit
from tradeapp.models.types import utcnow
from tradeapp.services import deposits
from tradeapp.services.wallets import fmt
from tradeapp.web import get_or_404, is_htmx, render, staff_required

bp = Blueprint("staff_deposits", __name__, url_prefix="/staff/deposits")


QUEUE_LIMIT = 200


def age(when) -> str:
    """'3 d 4 h', '2 h 5 min', '4 min': how long a deposit has waited."""
    minutes = max(int((utcnow() - when).total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {mins} min" if hours else f"{mins} min"


def _row_context(deposit: Deposit, **extra) -> dict:
    return {
        "d": deposit,
        "age": age,
        "fmt": fmt,
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
        age=age,
        fmt=fmt,
    )


def _done(deposit: Deposit, message: str):
    if is_htmx():
        return render("staff/deposits/_row.html", "staff/deposits/_row.html", **_row_context(deposit, notice=message))
    flash(message, "success")
    return redirect(url_for("staff_deposits.deposits_queue"), 303)


def _failed(deposit: Deposit, error: str | None, **forms):
    if is_htmx():
        response = render(
            "staff/deposits/_row.html", "staff/deposits/_row.html", **_row_context(deposit, error=error, **forms)
        )
        response.status_code = 422
        return response
    flash(
        error or "Check the form: " + "; ".join(e for f in forms.values() for es in f.errors.values() for e in es),
        "error",
    )
    return redirect(url_for("staff_deposits.deposits_queue"), 303)


def _field_errors(form, exc: DomainError) -> str | None:
    placed = False
    for name, messages in exc.fields.items():
        field = form._fields.get(name)
        if field is not None:
            field.errors = [*field.errors, *messages]
            placed = True
    return None if placed else exc.message


@bp.post("/<int:deposit_id>/confirm")
@staff_required("deposits.manage")
def deposit_confirm(deposit_id: int):
    """Credit a pending deposit (optionally the different amount received; crypto needs the tx hash)."""
    deposit = get_or_404(Deposit, deposit_id)
    form = ConfirmDepositForm()
    if not form.validate():
        return _failed(deposit, None, confirm_form=form)
    try:
        deposit = deposits.confirm_deposit(current_user, deposit, form.amount.data or None, form.tx_hash.data or None)
    except DomainError as exc:
        db.session.refresh(deposit)
        return _failed(deposit, _field_errors(form, exc), confirm_form=form)
    return _done(
        deposit,
        f"Deposit #{deposit.id} confirmed: {fmt(deposit.credited_amount, deposit.currency)} {deposit.currency} credited.",
    )


@bp.post("/<int:deposit_id>/reject")
@staff_required("deposits.manage")
def deposit_reject(deposit_id: int):
    """Reject a pending deposit with a reason the customer sees."""
    deposit = get_or_404(Deposit, deposit_id)
    form = RejectDepositForm()
    if not form.validate():
        return _failed(deposit, None, reject_form=form)
    try:
        deposit = deposits.reject_deposit(current_user, deposit, form.reason.data)
    except DomainError as exc:
        db.session.refresh(deposit)
        return _failed(deposit, _field_errors(form, exc), reject_form=form)
    return _done(deposit, f"Deposit #{deposit.id} rejected.")
