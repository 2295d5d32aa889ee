"""Staff side of account security: a customer's settings and security events on the user 360 page,
and the reset of a customer's two-factor after identity checks (with a reason; audited; the customer told)."""

from flask import Blueprint, url_for
from flask_login import current_user
from sqlalchemy import and_, or_, select

from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.models import AuditLog, User
from tradeapp.services.account_security import RESET_2FA, addresses, sessions, settings, twofactor
from tradeapp.web import get_or_404, render, staff_required, swap_row

from .forms import ResetTwoFactorForm

bp = Blueprint("staff_security", __name__, url_prefix="/staff/users")

EVENTS = 20


def _context(user: User, form: ResetTwoFactorForm | None = None, **extra) -> dict:
    events = db.session.scalars(
        select(AuditLog)
        .where(
            AuditLog.action.like("security.%"),
            or_(
                AuditLog.actor_id == user.id, and_(AuditLog.target_type == "users", AuditLog.target_id == str(user.id))
            ),
        )
        .order_by(AuditLog.id.desc())
        .limit(EVENTS)
    ).all()
    return {
        "user": user,
        "enabled": twofactor.two_factor_enabled(user),
        "codes_left": twofactor.recovery_codes_left(user),
        "current": settings.of(user.id),
        "sessions": sessions.active(user),
        "describe": sessions.describe,
        "address_count": len(db.session.scalars(addresses.for_user(user)).all()),
        "events": events,
        "form": form or ResetTwoFactorForm(formdata=None),
        "can_reset": current_user.is_authenticated and _can_reset(),
        **extra,
    }


def _can_reset() -> bool:
    from tradeapp.permissions import has_permission  # noqa: PLC0415

    return has_permission(current_user, RESET_2FA)


@bp.get("/<int:user_id>/security")
@staff_required("users.view")
def user_security(user_id: int):
    """The customer's security card: two-factor, settings, devices, recent security events."""
    user = get_or_404(User, user_id)
    return render("account_security/staff_card.html", "account_security/_staff_card.html", **_context(user))


@bp.post("/<int:user_id>/security/reset-2fa")
@staff_required(RESET_2FA)
def user_reset_customer_two_factor(user_id: int):
    """Turn a customer's two-factor off after identity checks (reason required)."""
    user = get_or_404(User, user_id)
    form = ResetTwoFactorForm()
    redirect_to = url_for("staff_users.user_detail", user_id=user.id)
    if not form.validate_on_submit():
        return swap_row(
            "account_security/_staff_card.html",
            redirect_to=redirect_to,
            error="Say which identity checks were done.",
            **_context(user, form),
        )
    try:
        twofactor.staff_reset(current_user._get_current_object(), user, form.reason.data)
    except DomainError as exc:
        form.show_error(exc)
        return swap_row(
            "account_security/_staff_card.html", redirect_to=redirect_to, error=exc.message, **_context(user, form)
        )
    db.session.expire_all()
    return swap_row(
        "account_security/_staff_card.html",
        redirect_to=redirect_to,
        notice="Two-factor was reset; the customer was told and signed out everywhere.",
        trigger="auditChanged",
        **_context(user),
    )
