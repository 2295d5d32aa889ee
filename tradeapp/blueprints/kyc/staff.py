"""Compliance review pages: the pending queue (filters, live counter) and the review page."""

from flask import Blueprint, request, url_for
from flask_login import current_user

from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models.kyc import KYC_DOCUMENT_TYPES, KYCDocument
from tradeapp.services import kyc as kyc_service
from tradeapp.services import kyc_review
from tradeapp.templating import age
from tradeapp.web import attempt, get_or_404, render, staff_required, swap_row

from .staff_forms import ApproveForm, RejectForm

bp = Blueprint("staff_kyc", __name__, url_prefix="/staff/kyc")

REVIEW = kyc_review.REVIEW
#: the queue's age filter: label by minimum age in hours
AGE_CHOICES = (("", "Any age"), ("1", "Older than 1 h"), ("24", "Older than 24 h"), ("72", "Older than 3 days"))


def _filters() -> dict:
    return {
        "country": (request.args.get("country") or "").strip().upper()[:2],
        "document_type": request.args.get("document_type")
        if request.args.get("document_type") in KYC_DOCUMENT_TYPES
        else "",
        "min_age_hours": request.args.get("min_age_hours")
        if request.args.get("min_age_hours") in dict(AGE_CHOICES)
        else "",
    }


@bp.get("/")
@staff_required(REVIEW)
def queue():
    """Pending submissions, oldest first, with filters by country, document type and age."""
    filters = _filters()
    return render(
        "staff/kyc/queue.html",
        "staff/kyc/_queue.html",
        docs=kyc_review.pending_submissions(filters),
        pending_total=kyc_review.pending_count(),
        filters=filters,
        filtered=any(filters.values()),
        countries=sorted(set(kyc_review.pending_countries()) | ({filters["country"]} if filters["country"] else set())),
        document_types=kyc_review.DOCUMENT_TYPE_LABELS,
        age_choices=AGE_CHOICES,
    )


def _review_context(doc: KYCDocument, **extra) -> dict:
    return {
        "doc": doc,
        "applicant": doc.user,
        "masked_number": kyc_service.masked_number(doc),
        "history": kyc_review.history(doc),
        "document_types": kyc_review.DOCUMENT_TYPE_LABELS,
        "account_age": age(doc.user.created_at),
        "waiting": age(doc.submitted_at),
        "approve_form": extra.pop("approve_form", None) or ApproveForm(formdata=None),
        "reject_form": extra.pop("reject_form", None) or RejectForm(formdata=None),
        **extra,
    }


@bp.get("/<int:document_id>")
@staff_required(REVIEW)
def review(document_id: int):
    """One submission: the applicant's facts, the documents inline, earlier submissions, the decision."""
    doc = get_or_404(KYCDocument, document_id)
    return render("staff/kyc/review.html", **_review_context(doc))


def _decision(doc: KYCDocument, approve_form=None, reject_form=None, **answer):
    """The refreshed decision card (with a toast) for HTMX; the review page (errors) or back to it otherwise."""
    db.session.expire_all()  # what the refused or committed decision left in memory
    context = _review_context(doc, approve_form=approve_form, reject_form=reject_form)
    url = url_for("staff_kyc.review", document_id=doc.id)
    return swap_row("staff/kyc/_decision.html", redirect_to=url, page="staff/kyc/review.html", **answer, **context)


@bp.post("/<int:document_id>/approve")
@staff_required(REVIEW)
def approve(document_id: int):
    """Approve: the customer is verified and told."""
    doc = get_or_404(KYCDocument, document_id)
    form = ApproveForm()
    if not form.validate_on_submit():
        return _decision(doc, error="Check the note and try again.", approve_form=form)
    try:
        kyc_review.approve_kyc(current_user, doc, note=form.note.data or "")
    except DomainError as exc:
        return _decision(doc, error=exc.message, status_code=422 if exc.status < 500 else exc.status, approve_form=form)
    return _decision(doc, notice="Approved: the customer is verified and has been told.")


@bp.post("/<int:document_id>/reject")
@staff_required(REVIEW)
def reject(document_id: int):
    """Reject with a preset reason and/or free text; the customer is told and may submit again."""
    doc = get_or_404(KYCDocument, document_id)
    form = RejectForm()
    _, error = attempt(form, lambda: kyc_review.reject_kyc(current_user, doc, form.reason()), form.NO_REASON)
    if error:
        return _decision(doc, error=error, reject_form=form)
    return _decision(doc, notice="Rejected: the customer has been told and may submit again.")
