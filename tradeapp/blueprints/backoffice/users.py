"""Staff account actions on the user 360: freeze, revoke sessions, force a password reset, reset 2FA, notes.

Each action posts a reason, swaps the actions card (or the notes card) with a toast and tells the
audit trail to refresh (``auditChanged``); without HTMX it redirects back to the user's page.
"""

from flask import Blueprint, url_for
from flask_login import current_user

from tradeapp.models import User
from tradeapp.services.backoffice import accounts
from tradeapp.web import attempt, get_or_404, staff_required, swap_row

from .forms import NoteForm, ReasonForm

bp = Blueprint("staff_accounts", __name__, url_prefix="/staff/users")


def actions_context(user: User, form: ReasonForm | None = None, action: str | None = None) -> dict:
    """What the actions card shows: the account's controls and one reason form per action."""
    return {
        "user": user,
        "control": accounts.control_of(user),
        "reason_form": form or ReasonForm(formdata=None),
        "failed_action": action,
    }


def _answer(user: User, action: str, form: ReasonForm, run, notice: str):
    _, error = attempt(form, run, invalid="Check the form: give a reason.")
    context = actions_context(user, form if error else None, action if error else None)
    return swap_row(
        "backoffice/_account_actions.html",
        redirect_to=url_for("staff_users.user_detail", user_id=user.id),
        notice=None if error else notice,
        error=error,
        trigger="auditChanged",
        **context,
    )


@bp.post("/<int:user_id>/freeze")
@staff_required(accounts.MANAGE)
def account_freeze(user_id: int):
    """Freeze: the customer keeps seeing everything but can no longer trade, withdraw or transfer."""
    user = get_or_404(User, user_id)
    form = ReasonForm()
    return _answer(
        user,
        "freeze",
        form,
        lambda: accounts.freeze(current_user, user, form.reason.data),
        f"{user.email} is frozen: no trading, withdrawals or transfers until unfrozen.",
    )


@bp.post("/<int:user_id>/unfreeze")
@staff_required(accounts.MANAGE)
def account_unfreeze(user_id: int):
    user = get_or_404(User, user_id)
    form = ReasonForm()
    return _answer(
        user,
        "unfreeze",
        form,
        lambda: accounts.unfreeze(current_user, user, form.reason.data),
        f"{user.email} is unfrozen.",
    )


@bp.post("/<int:user_id>/revoke-sessions")
@staff_required(accounts.MANAGE)
def account_revoke_sessions(user_id: int):
    """Log the account out of every browser and app."""
    user = get_or_404(User, user_id)
    form = ReasonForm()
    return _answer(
        user,
        "revoke",
        form,
        lambda: accounts.revoke_sessions(current_user, user, form.reason.data),
        f"Every session and token of {user.email} is revoked.",
    )


@bp.post("/<int:user_id>/force-password-reset")
@staff_required(accounts.MANAGE)
def account_force_password_reset(user_id: int):
    """The old password stops working; the customer is e-mailed a link to set a new one."""
    user = get_or_404(User, user_id)
    form = ReasonForm()
    return _answer(
        user,
        "password",
        form,
        lambda: accounts.force_password_reset(current_user, user, form.reason.data),
        f"Password reset forced: {user.email} was sent a link and logged out everywhere.",
    )


@bp.post("/<int:user_id>/two-factor/reset-with-reason")
@staff_required("roles.manage")
def account_reset_two_factor(user_id: int):
    """A staff member lost their authenticator (administrators only): they enrol again at next login."""
    user = get_or_404(User, user_id)
    form = ReasonForm()
    return _answer(
        user,
        "two_factor",
        form,
        lambda: accounts.reset_two_factor(current_user, user, form.reason.data),
        f"Two-factor reset: {user.email} enrols a new device at the next login.",
    )


def notes_context(user: User, form: NoteForm | None = None) -> dict:
    return {"user": user, "notes": accounts.notes(user), "note_form": form or NoteForm(formdata=None)}


@bp.post("/<int:user_id>/notes")
@staff_required("users.view")
def note_add(user_id: int):
    """Add a staff note (audited); the notes card swaps with the new note on top."""
    user = get_or_404(User, user_id)
    form = NoteForm()
    _, error = attempt(form, lambda: accounts.add_note(current_user, user, form.body.data), invalid="Write the note.")
    return swap_row(
        "backoffice/_notes.html",
        redirect_to=url_for("staff_users.user_detail", user_id=user.id),
        notice=None if error else "Note added.",
        error=error,
        trigger="auditChanged",
        **notes_context(user, form if error else None),
    )
