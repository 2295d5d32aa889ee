"""Customer withdrawal page: the request form with fees and limits, my withdrawals, cancel."""

from flask import Blueprint, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from tradeapp.blueprints.api.idempotency import idempotent
from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models import Wallet, Withdrawal
from tradeapp.services import compliance, withdrawals
from tradeapp.services.account_security import confirmations, twofactor
from tradeapp.templating import money
from tradeapp.web import attempt, get_owned_or_404, login_required, render, swap_row

from .forms import WithdrawalForm

bp = Blueprint("withdrawals", __name__, url_prefix="/withdrawals")

LIST_SIZE = 50


def _context(form: WithdrawalForm, **extra) -> dict:
    user = current_user
    balances = {w.currency: w for w in db.session.scalars(select(Wallet).where(Wallet.user_id == user.id))}
    return {
        "form": form,
        "rules": withdrawals.RULES,
        "networks": withdrawals.NETWORKS,
        "balances": balances,
        "kyc_blocked": compliance.kyc_required_for("withdrawals") and compliance.kyc_level(user) != "approved",
        "daily_limit": compliance.withdrawal_daily_limit_usd(user),
        "daily_used": withdrawals.daily_usage_usd(user),
        "items": db.session.scalars(withdrawals.user_withdrawals_query(user).limit(LIST_SIZE)).all(),
        "two_factor_on": twofactor.two_factor_enabled(user),
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
                otp=form.otp.data or None,
            )
        except DomainError as exc:
            form.show_error(exc)
            status = 422
        else:
            form = WithdrawalForm(formdata=None, currency=created.currency, destination_type=created.destination_type)
            form.fresh_key()
            return swap_row(
                "withdrawals/_form.html",
                redirect_to=url_for("withdrawals.withdrawals_page"),
                notice=f"Withdrawal of {money(created.amount, created.currency)} {created.currency} requested: "
                + (
                    "confirm it with the link we e-mailed you (within 30 minutes)."
                    if confirmations.pending_for(created)
                    else "it awaits approval."
                ),
                trigger="withdrawalsChanged",
                **_context(form),
            )
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
    return render("withdrawals/_row.html", "withdrawals/_row.html", w=w)


@bp.post("/<int:withdrawal_id>/cancel")
@login_required
def withdrawal_cancel(withdrawal_id: int):
    """Cancel while pending; the held funds become available again.

    :raise 404: not mine
    """
    w = get_owned_or_404(Withdrawal, withdrawal_id)
    cancelled, error = attempt(FlaskForm(), lambda: withdrawals.cancel_withdrawal(current_user, w))
    if error:
        db.session.expire_all()  # refused: the row shows the withdrawal as it stands
    w = cancelled or w
    return swap_row(
        "withdrawals/_row.html",
        redirect_to=url_for("withdrawals.withdrawals_page"),
        notice=None if error else "Withdrawal cancelled; the funds are available again.",
        error=error,
        w=w,
        row_error=error,
    )
