"""Customer loan pages: products with a calculator, the application form with a live collateral check,
my loans, and each loan's page (live LTV gauge, schedule, repay, add collateral)."""

from decimal import Decimal

from flask import Blueprint, request, url_for
from flask_login import current_user
from sqlalchemy import select

from tradeapp.amounts import AmountError, parse_decimal
from tradeapp.blueprints.api.idempotency import idempotent
from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models import Loan, LoanProduct, Wallet
from tradeapp.services import compliance, loans
from tradeapp.services.loans import calc
from tradeapp.web import get_owned_or_404, login_required, render, swap_row

from .forms import AmountForm, ApplyForm

bp = Blueprint("loans", __name__, url_prefix="/loans")


def _products() -> list[LoanProduct]:
    return loans.active_products()


def _decimal(value) -> Decimal | None:
    try:
        return parse_decimal(value or "", decimals=8)
    except (AmountError, TypeError):
        return None


def _product_from(value) -> LoanProduct | None:
    text = str(value or "")
    product = db.session.get(LoanProduct, int(text)) if text.isdigit() and len(text) < 10 else None
    return product if product is not None and product.is_active else None


def _estimate(product: LoanProduct | None, amount: Decimal | None, currency: str, term: int | None) -> dict:
    """What the calculator and the live check show: collateral needed at the live price, interest, the total."""
    out = {"product": product, "amount": amount, "currency": currency, "term": term}
    if product is None or amount is None or currency not in (product.collateral_currencies or []):
        return out
    try:
        quote = loans.quote_collateral(product, amount, currency)
    except DomainError as exc:
        out["error"] = exc.message
        return out
    days = term if term in product.terms else product.term_days
    interest = (amount * product.interest_rate / 100 * days / calc.DAYS_PER_YEAR).quantize(Decimal("0.01"))
    out.update(
        price=quote["price"],
        stale=quote["stale"],
        required=quote["required"],
        interest=interest,
        total=amount + interest,
        days=days,
        margin_price=calc.trigger_price(amount, quote["required"], product.margin_call_ltv),
        liquidation_price=calc.trigger_price(amount, quote["required"], product.liquidation_ltv),
    )
    return out


@bp.get("/")
@login_required
def loans_index():
    """My loans and the products I can apply for."""
    items = db.session.scalars(loans.user_loans_query(current_user)).all()
    return render(
        "loans/index.html",
        "loans/_my_loans.html",
        items=items,
        views={loan.id: loans.live_view(loan) for loan in items if loan.status in ("pending", "active")},
        products=_products(),
    )


@bp.get("/products")
@login_required
def loans_products():
    """Products with a calculator: amount ↔ collateral at the live price, interest and schedule."""
    products = _products()
    product = _product_from(request.args.get("product")) or (products[0] if products else None)
    currency = request.args.get("currency") or (product.collateral_currencies[0] if product else "")
    amount = _decimal(request.args.get("amount")) or (product.min_amount * 10 if product else None)
    if product is not None and amount is not None:
        amount = min(max(amount, product.min_amount), product.max_amount)
    term = request.args.get("term", type=int)
    estimate = _estimate(product, amount, currency, term)
    return render("loans/products.html", "loans/_calculator_result.html", products=products, estimate=estimate)


def _apply_context(form: ApplyForm, **extra) -> dict:
    products = _products()
    product = _product_from(form.product.data) or (products[0] if products else None)
    form.product.choices = [(p.id, p.name) for p in products]
    if product is not None:
        form.product.data = product.id
        form.collateral_currency.choices = [(c, c) for c in product.collateral_currencies]
        form.term_days.choices = [(t, f"{t} days") for t in product.terms]
        if form.term_days.data not in product.terms:
            form.term_days.data = product.term_days
        if form.collateral_currency.data not in product.collateral_currencies:
            form.collateral_currency.data = product.collateral_currencies[0]
    balances = {w.currency: w for w in db.session.scalars(select(Wallet).where(Wallet.user_id == current_user.id))}
    return {
        "form": form,
        "product": product,
        "products": products,
        "balances": balances,
        "kyc_blocked": compliance.kyc_required_for("loans") and compliance.kyc_level(current_user) != "approved",
        "check": _estimate(
            product, _decimal(form.amount.data), form.collateral_currency.data or "", form.term_days.data
        ),
        "offered": _decimal(form.collateral_amount.data),
        **extra,
    }


@bp.route("/apply", methods=["GET", "POST"])
@login_required
@idempotent
def loan_apply():
    """The application form; the collateral check follows the inputs live (``/loans/apply/check``)."""
    form = ApplyForm(product=request.args.get("product", type=int))
    status = 200
    if form.validate_on_submit():
        try:
            loan = loans.apply(current_user, form.data_for_service())
        except DomainError as exc:
            form.show_error(exc)
            status = 422
        else:
            return swap_row(
                "loans/_apply_done.html",
                redirect_to=url_for("loans.loan_detail", loan_id=loan.id),
                notice=f"Loan application #{loan.id} sent: your collateral is held while we review it.",
                loan=loan,
            )
    elif form.is_submitted():
        status = 422
    if not form.idempotency_key.data or status == 200:
        form.fresh_key()
    response = render("loans/apply.html", "loans/_apply_form.html", **_apply_context(form))
    response.status_code = status
    return response


@bp.get("/apply/check")
@login_required
def loan_apply_check():
    """The live collateral check beside the form (HTMX, as the inputs change)."""
    form = ApplyForm(formdata=request.args, meta={"csrf": False})
    return render("loans/_collateral_check.html", "loans/_collateral_check.html", **_apply_context(form))


def _loan_context(loan: Loan, **extra) -> dict:
    repay_form = extra.pop("repay_form", None) or AmountForm(formdata=None)
    collateral_form = extra.pop("collateral_form", None) or AmountForm(formdata=None)
    for form in (repay_form, collateral_form):
        if not form.idempotency_key.data:
            form.fresh_key()
    return {
        "loan": loan,
        "view": loans.live_view(loan),
        "schedule": loans.loan_schedule(loan),
        "repayments": db.session.scalars(loans.repayments_query(loan_id=loan.id)).all(),
        "events": loans.events(loan.id, 50),
        "repay_form": repay_form,
        "collateral_form": collateral_form,
        "wallet": db.session.scalar(
            select(Wallet).where(Wallet.user_id == loan.user_id, Wallet.currency == loan.loan_currency)
        ),
        "collateral_wallet": db.session.scalar(
            select(Wallet).where(Wallet.user_id == loan.user_id, Wallet.currency == loan.collateral_currency)
        ),
        **extra,
    }


@bp.get("/<int:loan_id>")
@login_required
def loan_detail(loan_id: int):
    """One loan: the live LTV gauge, what is owed, the schedule, repay and add collateral.

    :raise 404: not mine
    """
    loan = get_owned_or_404(Loan, loan_id)
    return render("loans/detail.html", **_loan_context(loan))


@bp.get("/<int:loan_id>/ltv")
@login_required
def loan_ltv(loan_id: int):
    """The LTV card (gauge and figures), polled and refreshed on ``loan`` events.

    :raise 404: not mine
    """
    loan = get_owned_or_404(Loan, loan_id)
    return render("loans/_ltv.html", "loans/_ltv.html", loan=loan, view=loans.live_view(loan))


@bp.get("/<int:loan_id>/activity")
@login_required
def loan_activity(loan_id: int):
    """Schedule, repayments and history (refreshed after an action or a ``loan`` event).

    :raise 404: not mine
    """
    loan = get_owned_or_404(Loan, loan_id)
    return render("loans/_activity.html", "loans/_activity.html", **_loan_context(loan))


def _answer(loan_id: int, notice: str | None = None, error: str | None = None, **forms):
    db.session.expire_all()
    loan = get_owned_or_404(Loan, loan_id)
    return swap_row(
        "loans/_panel.html",
        redirect_to=url_for("loans.loan_detail", loan_id=loan_id),
        notice=notice,
        error=error,
        trigger="loanChanged",
        **_loan_context(loan, **forms),
    )


@bp.post("/<int:loan_id>/repay")
@login_required
@idempotent
def loan_repay(loan_id: int):
    """Repay (interest first, never more than owed); the panel swaps with the new figures.

    :raise 404: not mine
    """
    get_owned_or_404(Loan, loan_id)
    form = AmountForm()
    if not form.validate_on_submit():
        return _answer(loan_id, error="Enter the amount to repay.", repay_form=form)
    try:
        result = loans.repay(current_user, loan_id, form.amount.data)
    except DomainError as exc:
        form.show_error(exc)
        return _answer(loan_id, error=exc.message, repay_form=form)
    return _answer(loan_id, notice=result.message)


@bp.post("/<int:loan_id>/cancel")
@login_required
def loan_cancel(loan_id: int):
    """Withdraw a pending application; the collateral is released at once.

    :raise 404: not mine
    """
    get_owned_or_404(Loan, loan_id)
    try:
        loans.cancel(current_user, loan_id)
    except DomainError as exc:
        return _answer(loan_id, error=exc.message)
    return _answer(loan_id, notice="Application withdrawn; your collateral is available again.")


@bp.post("/<int:loan_id>/collateral")
@login_required
@idempotent
def loan_add_collateral(loan_id: int):
    """Hold more collateral against the loan; the LTV falls at once.

    :raise 404: not mine
    """
    loan = get_owned_or_404(Loan, loan_id)
    form = AmountForm()
    if not form.validate_on_submit():
        return _answer(loan_id, error="Enter the collateral to add.", collateral_form=form)
    try:
        loans.add_collateral(current_user, loan_id, form.amount.data)
    except DomainError as exc:
        form.show_error(exc)
        return _answer(loan_id, error=exc.message, collateral_form=form)
    return _answer(loan_id, notice=f"Added {form.amount.data} {loan.collateral_currency} of collateral.")
