"""Staff loans: the application queue (approve with maker-checker, reject with a reason; rows swap),
each loan's detail (ledger entries, repayments, LTV history, audit), products, delinquency and liquidations."""

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user
from sqlalchemy import select

from tradeapp.blueprints.staff.forms import EmptyForm
from tradeapp.extensions import db
from tradeapp.models import KYCDocument, Loan, LoanLiquidation, LoanProduct, Wallet
from tradeapp.models.types import utcnow
from tradeapp.services import loans
from tradeapp.web import attempt, get_or_404, render, staff_required, swap_row

from .forms import ProductForm, RejectForm, WriteOffForm

bp = Blueprint("staff_loans", __name__, url_prefix="/staff/loans")

MANAGE = loans.MANAGE
QUEUE_SIZE = 100


def _row_context(loan: Loan, **extra) -> dict:
    return {
        "loan": loan,
        "view": loans.live_view(loan),
        "required": loans.approvals_required(loan),
        "wallets": db.session.scalars(
            select(Wallet).where(Wallet.user_id == loan.user_id).order_by(Wallet.currency)
        ).all(),
        "history": db.session.scalars(
            select(Loan).where(Loan.user_id == loan.user_id, Loan.id != loan.id).order_by(Loan.id.desc()).limit(5)
        ).all(),
        "kyc": db.session.scalar(
            select(KYCDocument).where(KYCDocument.user_id == loan.user_id).order_by(KYCDocument.id.desc()).limit(1)
        ),
        "approve_form": EmptyForm(formdata=None),
        "reject_form": extra.pop("reject_form", None) or RejectForm(formdata=None),
        "now": utcnow(),
        **extra,
    }


@bp.get("/")
@staff_required(MANAGE)
def loans_queue():
    """Applications awaiting a decision, oldest first, with the customer's KYC, wallets, LTV and history."""
    pending = db.session.scalars(loans.pending_query().limit(QUEUE_SIZE)).all()
    recent = db.session.scalars(
        select(Loan).where(Loan.status != "pending").order_by(Loan.applied_at.desc()).limit(20)
    ).all()
    return render(
        "staff/loans/queue.html",
        "staff/loans/_queue.html",
        pending=[_row_context(loan) for loan in pending],
        recent=recent,
        pending_total=loans.pending_count(),
        threshold=loans.dual_approval_threshold(),
        counts=loans.status_counts(),
    )


def _row(loan_id: int, reject_form=None, **answer):
    db.session.expire_all()  # what the refused or committed action left in memory
    loan = get_or_404(Loan, loan_id)
    return swap_row(
        "staff/loans/_row.html",
        redirect_to=url_for("staff_loans.loans_queue"),
        **answer,
        **_row_context(loan, reject_form=reject_form),
    )


@bp.post("/<int:loan_id>/approve")
@staff_required(MANAGE)
def loan_approve(loan_id: int):
    """Approve (first or second of two); the last approval disburses the loan."""
    get_or_404(Loan, loan_id)
    loan, error = attempt(EmptyForm(), lambda: loans.approve(current_user, loan_id))
    if error:
        return _row(loan_id, error=error)
    if loan.status == "active":
        notice = f"Approved: {loan.amount:f} {loan.loan_currency} disbursed."
    else:
        notice = f"Approved: {len(loan.approvals)} of {loans.approvals_required(loan)} approvals."
    return _row(loan_id, notice=notice)


@bp.post("/<int:loan_id>/reject")
@staff_required(MANAGE)
def loan_reject(loan_id: int):
    """Reject with a preset reason and/or free text; the collateral is released and the customer told."""
    get_or_404(Loan, loan_id)
    form = RejectForm()
    _, error = attempt(form, lambda: loans.reject(current_user, loan_id, form.reason()), form.NO_REASON)
    if error:
        return _row(loan_id, error=error, reject_form=form)
    return _row(loan_id, notice="Rejected: the collateral was released and the customer told.")


@bp.get("/<int:loan_id>")
@staff_required(MANAGE)
def loan_detail(loan_id: int):
    """One loan for the back office: figures, ledger entries, repayments, LTV history, liquidations, audit."""
    return _detail_page(get_or_404(Loan, loan_id))


def _detail_page(loan: Loan, write_off_form: WriteOffForm | None = None, status_code: int = 200):
    return render(
        "staff/loans/detail.html",
        status_code=status_code,
        **_row_context(loan),
        write_off_form=write_off_form or WriteOffForm(formdata=None),
        entries=loans.ledger_entries(loan.id),
        repayments=db.session.scalars(loans.repayments_query(loan_id=loan.id)).all(),
        events=loans.events(loan.id),
        ltv_points=list(reversed(loans.ltv_history(loan.id))),
        audit_rows=loans.audit_rows(loan.id),
        liquidations=db.session.scalars(loans.liquidations_query().where(LoanLiquidation.loan_id == loan.id)).all(),
    )


@bp.post("/<int:loan_id>/write-off")
@staff_required(MANAGE)
def loan_write_off(loan_id: int):
    """Write off a defaulted loan's shortfall (with a reason): the principal leaves the loan book."""
    get_or_404(Loan, loan_id)
    form = WriteOffForm()
    loan, error = attempt(form, lambda: loans.write_off(current_user, loan_id, form.reason.data))
    if error:
        db.session.rollback()
        flash(error, "error")
        return _detail_page(get_or_404(Loan, loan_id), write_off_form=form, status_code=422)
    flash(f"Loan #{loan.id} written off.", "success")
    return redirect(url_for("staff_loans.loan_detail", loan_id=loan_id), 303)


@bp.route("/products", methods=["GET", "POST"])
@staff_required(MANAGE)
def products():
    """Loan products: the list and a form for a new one."""
    form = ProductForm()
    status = 200
    if form.validate_on_submit():
        product, error = attempt(form, lambda: loans.save_product(current_user, form.values()))
        if product is not None:
            return swap_row(
                "staff/loans/_products.html",
                redirect_to=url_for("staff_loans.products"),
                notice=f"Product {product.name} created.",
                form=ProductForm(formdata=None),
                items=db.session.scalars(loans.products_query(active_only=False)).all(),
            )
        if not form.errors and error:
            form.form_errors = [*form.form_errors, error]
        status = 422
    elif form.is_submitted():
        status = 422
    response = render(
        "staff/loans/products.html",
        "staff/loans/_products.html",
        form=form,
        items=db.session.scalars(loans.products_query(active_only=False)).all(),
    )
    response.status_code = status
    return response


@bp.route("/products/<int:product_id>", methods=["GET", "POST"])
@staff_required(MANAGE)
def product_edit(product_id: int):
    """Edit a product (loans already granted keep their terms)."""
    product = get_or_404(LoanProduct, product_id)
    form = ProductForm(
        obj=product,
        collateral_currencies=" ".join(product.collateral_currencies),
        term_options=" ".join(str(t) for t in product.terms if t != product.term_days),
    )
    status = 200
    if form.validate_on_submit():
        saved, error = attempt(form, lambda: loans.save_product(current_user, form.values(), product))
        if saved is not None:
            return swap_row(
                "staff/loans/_product_form.html",
                redirect_to=url_for("staff_loans.products"),
                notice=f"Product {saved.name} saved.",
                form=form,
                product=saved,
            )
        if error and not any(f.errors for f in form):
            form.form_errors = [*form.form_errors, error]
        status = 422
    elif form.is_submitted():
        status = 422
    response = render("staff/loans/product.html", "staff/loans/_product_form.html", form=form, product=product)
    response.status_code = status
    return response


@bp.get("/delinquency")
@staff_required(MANAGE)
def delinquency():
    """Overdue active loans by bucket (1–30, 31–60, 60+ days past due)."""
    today = utcnow().date()
    return render("staff/loans/delinquency.html", buckets=loans.delinquency(today), today=today)


@bp.get("/liquidations")
@staff_required(MANAGE)
def liquidations():
    """Liquidations, newest first: what was sold, repaid, charged and lost."""
    return render(
        "staff/loans/liquidations.html", items=db.session.scalars(loans.liquidations_query().limit(200)).all()
    )
