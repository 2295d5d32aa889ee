"""Customer withdrawal page: the request form with fees and limits, my withdrawals, cancel."""

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from tradeapp.blueprints.api.idempotency import idempotent
from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models import Wallet, Withdrawal
from tradeapp.services import compliance, withdrawals
from tradeapp.services.wallets import fmt
from tradeapp.web import get_owned_or_404, is_htmx, login_required, render

from .forms import WithdrawalForm

bp = Blueprint("withdrawals", __name__, url_prefix="/withdrawals")

LIST_SIZE = 50
#: service field names → form field names
RENAMES = {
    "destination_details.iban": "iban",
    "destination_details.account_holder": "account_holder",
    "destination_details.bank_name": "bank_name",
    "destination_details.address": "address",
    "destination_details.network": "network",
}


def _fields_to_form(form: WithdrawalForm, exc: DomainError) -> None:
    for name, messages in exc.fields.items():
        field = form._fields.get(RENAMES.get(name, name))
        if field is not None and field.name not in ("csrf_token", "idempotency_key"):
            field.errors = [*field.errors, *messages]
        else:
            form.form_errors.extend(messages)
    if not exc.fields:
        form.form_errors.append(exc.message)


def _context(form: WithdrawalForm, **extra) -> dict:
    user = current_user
    balances = {w.currency: w for w in db.session.scalars(select(Wallet).where(Wallet.user_id == user.id))}
    return {
        "form": form,
        "rules": withdrawals.RULES,
        "networks": withdrawals.NETWORKS,
        "balances": balances,
        "fmt": fmt,
        "kyc_blocked": compliance.kyc_required_for("withdrawals") and compliance.kyc_level(user) != "approved",
        "daily_limit": compliance.withdrawal_daily_limit_usd(user),
        "daily_used": withdrawals.daily_usage_usd(user),
        "items": db.session.scalars(withdrawals.user_withdrawals_query(user).limit(LIST_SIZE)).all(),
        **extra,
    }


@bp.route("/", methods=["GET", "POST"])
@login_required
@idempotent
def withdrawals_page():
    """Request a withdrawal and follow mine; the form swaps itself, the list refreshes."""
    form = WithdrawalForm()
    status = 200
    created = None
    if form.validate_on_submit():
        try:
            created = withdrawals.request_withdrawal(
                current_user,
                form.currency.data,
                form.amount.data,
                form.destination_type.data,
                form.destination_details(),
            )
        except DomainError as exc:
            _fields_to_form(form, exc)
            status = 422
        else:
            message = f"Withdrawal of {fmt(created.amount, created.currency)} {created.currency} requested: it awaits approval."
            if not is_htmx():
                flash(message, "success")
                return redirect(url_for("withdrawals.withdrawals_page"), 303)
            form = WithdrawalForm(formdata=None, currency=created.currency, destination_type=created.destination_type)
            form.fresh_key()
            response = render("withdrawals/page.html", "withdrawals/_form.html", **_context(form, notice=message))
            response.headers["HX-Trigger"] = "withdrawalsChanged"
            return response
    elif form.is_submitted():
        status = 422
    if not form.idempotency_key.data or status == 200:
        form.fresh_key()
    response = render("withdrawals/page.html", "withdrawals/_form.html", **_context(form))
    response.status_code = status
    return response


@bp.get("/list")
@login_required
def withdrawals_list():
    """My withdrawals (the list fragment; refreshed after a new request)."""
    return render("withdrawals/page.html", "withdrawals/_list.html", **_context(WithdrawalForm(formdata=None)))


@bp.get("/<int:withdrawal_id>/row")
@login_required
def withdrawal_row(withdrawal_id: int):
    """One row, polled while the withdrawal is on its way.

    :raise 404: not mine
    """
    w = get_owned_or_404(Withdrawal, withdrawal_id)
    return render("withdrawals/_row.html", "withdrawals/_row.html", w=w, fmt=fmt)


@bp.post("/<int:withdrawal_id>/cancel")
@login_required
def withdrawal_cancel(withdrawal_id: int):
    """Cancel while pending; the held funds become available again.

    :raise 404: not mine
    """
    w = get_owned_or_404(Withdrawal, withdrawal_id)
    error = None
    if not FlaskForm().validate_on_submit():
        error = "The form expired; reload the page."
    else:
        try:
            w = withdrawals.cancel_withdrawal(current_user, w)
        except DomainError as exc:
            error = exc.message
            db.session.expire_all()
            w = db.session.get(Withdrawal, withdrawal_id)
    if is_htmx():
        response = render("withdrawals/_row.html", "withdrawals/_row.html", w=w, fmt=fmt, row_error=error)
        if error:
            response.status_code = 422
        return response
    flash(error or "Withdrawal cancelled; the funds are available again.", "error" if error else "success")
    return redirect(url_for("withdrawals.withdrawals_page"), 303)
