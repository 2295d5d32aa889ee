"""Customer KYC pages and the authorised file route."""

from flask import Blueprint, Response, abort, request, session, url_for
from flask_jwt_extended import get_current_user, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from flask_login import current_user
from jwt.exceptions import PyJWTError

from tradeapp.blueprints.api import _issued_before_password_change
from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models.kyc import KYCFile
from tradeapp.models.types import utcnow
from tradeapp.services import kyc
from tradeapp.web import login_required, render, swap_row

from .forms import KycForm

bp = Blueprint("kyc", __name__, url_prefix="/kyc")

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}
#: the file response may be shown inline, framed by our own pages, and nothing else
FILE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'"


def _context(form: KycForm, **extra) -> dict:
    user = current_user
    history = kyc.submissions(user)
    latest = history[0] if history else None
    return {
        "form": form,
        "latest": latest,
        "history": history,
        "can_submit": kyc.can_submit(user, latest),
        "now": utcnow(),
        "labels": kyc.DOCUMENT_TYPE_LABELS,
        "file_labels": kyc.FILE_LABELS,
        "masked_number": kyc.masked_number,
        **extra,
    }


@bp.route("/", methods=["GET", "POST"])
@login_required
def page():
    """My verification: status, the submission form (while one is accepted), earlier submissions."""
    form = KycForm()
    status = 200
    if form.is_submitted():
        if form.validate():
            try:
                kyc.submit_kyc(current_user, form.values(), form.uploads())
            except DomainError as exc:
                form.show_error(exc)
                status = 422
            else:
                return swap_row(
                    "kyc/_panel.html",
                    redirect_to=url_for("kyc.page"),
                    notice="Thank you: your documents were received and are being reviewed.",
                    **_context(KycForm(formdata=None)),
                )
        else:
            status = 422
    return render("kyc/page.html", "kyc/_panel.html", status_code=status, **_context(form))


def _viewer():
    """(user, may act as staff) from a bearer token or the web session; (None, False) if neither."""
    if request.headers.get("Authorization", "").startswith("Bearer "):
        try:
            verify_jwt_in_request(optional=True)
        except (JWTExtendedException, PyJWTError):
            return None, False
        user = get_current_user()
        if user is None or _issued_before_password_change(user):
            return None, False
        # Staff access tokens are only issued after their one-time code.
        return user, True
    if not current_user.is_authenticated:
        return None, False
    user = current_user._get_current_object()
    # A staff web session reads other people's documents only after its second factor.
    return user, bool(session.get("staff_2fa_ok") and user.totp_confirmed_at is not None)


@bp.get("/files/<int:file_id>", endpoint="file")
def kyc_file(file_id: int):
    """A submission's file, decrypted, for its owner and KYC reviewers.

    :raise 404: no such file, or the caller may not see it (never 403: do not confirm it exists)
    """
    user, elevated = _viewer()
    f = db.session.get(KYCFile, file_id)
    if user is None or f is None:
        abort(404)
    allowed = f.document.user_id == user.id or (elevated and kyc.can_view_file(user, f))
    if not allowed:
        abort(404)
    response = Response(kyc.read_file(f), mimetype=f.content_type)
    response.headers["Content-Disposition"] = (
        f'inline; filename="kyc-{f.document_id}-{f.kind}.{EXTENSIONS.get(f.content_type, "bin")}"'
    )
    response.headers["Cache-Control"] = "no-store, private"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = FILE_CSP
    response.vary.add("Cookie")
    response.vary.add("Authorization")
    return response
