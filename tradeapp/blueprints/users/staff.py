"""Staff pages over accounts: the users list with live search, a user's file, and account actions."""

from flask import Blueprint, request, url_for
from flask_login import current_user

from tradeapp.errors import DomainError
from tradeapp.models import User
from tradeapp.services import staff as staff_service
from tradeapp.services import staff_queries
from tradeapp.services.backoffice import user360
from tradeapp.services.users import lockout_status
from tradeapp.web import attempt, get_or_404, render, staff_required, swap_row, toast

from ..backoffice.forms import NoteForm, ReasonForm
from ..staff.forms import EmptyForm, RoleForm, StatusForm, UserFilterForm

bp = Blueprint("staff_users", __name__, url_prefix="/staff/users")

#: The cards of a user's page an HTMX request may ask for with ``?part=``.
PARTS = {
    "status": "staff/_user_status.html",
    "role": "staff/_user_role.html",
    "audit": "staff/_user_audit.html",
}


@bp.get("/")
@staff_required("users.view")
def users_listing():
    """Customers and staff, searchable; an HTMX request gets only the results."""
    form = UserFilterForm(request.args)
    form.validate()
    # An unknown choice (a hand-edited URL) is ignored rather than an error page.
    filters = staff_queries.UserFilters(**{f.name: (f.data or "").strip() for f in form if not f.errors})
    results = staff_queries.search_users(filters, request.args.get("page", 1, type=int))
    return render("staff/users.html", "staff/_user_rows.html", form=form, filters=filters, results=results)


def _detail_context(user: User, **forms) -> dict:
    return {
        "user": user,
        "lockout": lockout_status(user.email),
        "referrals": staff_queries.referral_info(user),
        "trail": staff_queries.user_audit_trail(user),
        "changes": staff_queries.audit_changes,
        "status_form": forms.get("status_form") or StatusForm(formdata=None),
        "unlock_form": forms.get("unlock_form") or EmptyForm(formdata=None),
        "role_form": forms.get("role_form") or RoleForm(formdata=None, role=user.role or ""),
        "reset_form": forms.get("reset_form") or EmptyForm(formdata=None),
        "card_error": forms.get("card_error"),
    }


@bp.get("/<int:user_id>")
@staff_required("users.view")
def user_detail(user_id: int):
    """A user's file: profile, status, role, referrals and audit trail.

    :raise 404: when there is no such user
    """
    user = get_or_404(User, user_id)
    fragment = PARTS.get(request.args.get("part", ""))
    return render(
        "staff/user_detail.html",
        fragment,
        # the user 360 (money, trading, sessions, notes, account actions): only on the whole page
        page_context=lambda: {
            "overview": user360.overview(user),
            "reason_form": ReasonForm(formdata=None),
            "note_form": NoteForm(formdata=None),
        },
        **_detail_context(user),
    )


def _after_action(user: User, part: str, message: str):
    """Success: the refreshed card with a toast for HTMX (and tell the audit trail), or back to the page."""
    return swap_row(
        PARTS[part],
        redirect_to=url_for("staff_users.user_detail", user_id=user.id),
        notice=message,
        trigger="auditChanged",
        **_detail_context(user),
    )


def _action_failed(user: User, part: str, error: str | None = None, **forms):
    """Refused: the card again with its errors inline (the whole page without HTMX), 422."""
    context = _detail_context(user, card_error={part: error} if error else None, **forms)
    return toast(
        render("staff/user_detail.html", PARTS[part], status_code=422, **context),
        error or "Check the form.",
        "error",
    )


@bp.post("/<int:user_id>/status")
@staff_required("users.manage")
def user_set_status(user_id: int):
    """Disable or re-enable an account, with a reason for the audit log."""
    user = get_or_404(User, user_id)
    form = StatusForm()
    if not form.validate():
        return _action_failed(user, "status", status_form=form)
    enable = form.action.data == "enable"
    try:
        staff_service.set_active(current_user, user, enable, form.reason.data.strip())
    except DomainError as exc:
        return _action_failed(user, "status", exc.message, status_form=form)
    return _after_action(user, "status", "Account enabled." if enable else "Account disabled.")


@bp.post("/<int:user_id>/unlock")
@staff_required("users.manage")
def user_unlock(user_id: int):
    """Clear the failed-login lockout of the user's address."""
    user = get_or_404(User, user_id)
    _, error = attempt(EmptyForm(), lambda: staff_service.unlock(current_user, user))
    if error:
        return _action_failed(user, "status", error)
    return _after_action(user, "status", "Failed logins cleared; the user can log in again.")


@bp.post("/<int:user_id>/role")
@staff_required("roles.manage")
def user_set_role(user_id: int):
    """Grant, change or remove a staff role (administrators only)."""
    user = get_or_404(User, user_id)
    form = RoleForm()
    if not form.validate():
        return _action_failed(user, "role", role_form=form)
    role = form.role.data or None
    try:
        staff_service.set_role(current_user, user, role)
    except DomainError as exc:
        return _action_failed(user, "role", None if form.show_errors(exc.fields) else exc.message, role_form=form)
    label = "a customer again" if role is None else f"now {role}"
    return _after_action(user, "role", f"{user.email} is {label}.")


@bp.post("/<int:user_id>/two-factor/reset")
@staff_required("roles.manage")
def user_reset_two_factor(user_id: int):
    """Make a staff member enrol two-factor again (lost device); administrators only."""
    user = get_or_404(User, user_id)
    _, error = attempt(EmptyForm(), lambda: staff_service.reset_two_factor(current_user, user))
    if error:
        return _action_failed(user, "role", error)
    return _after_action(user, "role", "Two-factor reset: they enrol again at their next login.")
