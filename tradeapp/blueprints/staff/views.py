"""Staff console: second factor, dashboard, roles and the audit log; the sidebar built from what domains register."""

from flask import Blueprint, Flask, abort, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user

from tradeapp import domains
from tradeapp.errors import DomainError
from tradeapp.extensions import limiter
from tradeapp.models.types import utcnow
from tradeapp.models.users import STAFF_ROLES
from tradeapp.permissions import PERMISSIONS, ROLE_LABELS, ROLE_PERMISSIONS, has_permission
from tradeapp.services import recovery, staff_queries
from tradeapp.services import staff as staff_service
from tradeapp.services.backoffice import dashboard as money_dashboard
from tradeapp.web import login_required, render, safe_next, staff_required

from .forms import AuditFilterForm, OtpForm

bp = Blueprint("staff", __name__, url_prefix="/staff")


# -- sidebar -------------------------------------------------------------------------------------


#: Sidebar sections in display order; a section not listed goes just before "Administration".
SECTION_ORDER = ["People", "Compliance", "Finance", "Loans", "Trading", "Products", "Reports", "Administration"]


def nav_for(user) -> list[dict]:
    """Links ``user`` may follow, grouped by section (a section title only before its first link)."""
    if not getattr(user, "is_staff", False):
        return []
    registry = domains.registry()
    visible = [e for e in registry.nav if has_permission(user, e.permission)]
    appearance = list(dict.fromkeys(e.section for e in visible))
    unlisted = SECTION_ORDER.index("Administration") - 0.5
    order = sorted(
        appearance,
        key=lambda s: (SECTION_ORDER.index(s) if s in SECTION_ORDER else unlisted, appearance.index(s)),
    )
    items = []
    for section in order:
        for i, entry in enumerate(e for e in visible if e.section == section):
            count = None
            if entry.counter and entry.counter in registry.counters:
                count = registry.counters[entry.counter].count()
            items.append(
                {
                    "section": section if i == 0 else None,
                    "label": entry.label,
                    "url": url_for(entry.endpoint),
                    "prefix": entry.prefix or entry.endpoint,
                    "counter": entry.counter,
                    "count": count,
                }
            )
    return items


def register_template_helpers(app: Flask) -> None:
    """Template helpers for the console: ``staff_nav()``, ``can(permission)``, role labels, paging.

    Globals rather than a context processor, so imported macros see them too.
    """
    app.jinja_env.globals.update(
        staff_nav=lambda: nav_for(current_user),
        can=can,
        role_labels=ROLE_LABELS,
        page_url=page_url,
        now_utc=utcnow,
    )


def can(permission: str) -> bool:
    """Whether the current user holds ``permission``."""
    return current_user.is_authenticated and has_permission(current_user, permission)


def page_url(number: int) -> str:
    """This page's URL, same filters, another page number."""
    args = {**request.args.to_dict(), "page": number}
    args.pop("part", None)
    return url_for(request.endpoint, **(request.view_args or {}), **args)


# -- second factor -------------------------------------------------------------------------------


@bp.route("/2fa", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
@login_required
def two_factor():
    """Enrol (QR code) or enter the TOTP code; a password alone never opens the console.

    :raise 403: for customers
    """
    if not current_user.is_staff:
        abort(403)
    next_url = safe_next(request.args.get("next"), url_for("staff.dashboard"))
    enrolling = current_user.totp_confirmed_at is None
    if session.get("staff_2fa_ok") and not enrolling:
        return redirect(next_url)
    form = OtpForm()
    status = 200
    if form.validate_on_submit():
        try:
            staff_service.complete_login(current_user, form.otp.data)
        except DomainError as exc:
            form.otp.errors = [*exc.fields.get("otp", [exc.message])]
            status = 422
        else:
            session["staff_2fa_ok"] = True
            return redirect(next_url, 303)
    elif form.is_submitted():
        status = 422
    context = {"form": form, "enrolling": enrolling, "next": request.args.get("next", "")}
    if enrolling:
        context["secret"] = staff_service.enrolment_secret(current_user)
        context["qr_svg"] = staff_service.qr_svg(current_user)
    return render_template("staff/two_factor.html", **context), status


# -- dashboard -----------------------------------------------------------------------------------


@bp.get("/")
@staff_required("staff.dashboard")
def dashboard():
    return render_template(
        "staff/dashboard.html",
        stats=staff_queries.dashboard_stats(),
        board=money_dashboard.build(current_user),
        recent=staff_queries.recent_audit(10) if has_permission(current_user, "audit.view") else None,
        changes=staff_queries.audit_changes,
        stuck=recovery.stuck_work(),
    )


# -- roles -----------------------------------------------------------------------------------------


@bp.get("/roles/")
@staff_required("roles.manage")
def roles_listing():
    return render_template(
        "staff/roles.html",
        roles=STAFF_ROLES,
        permissions=PERMISSIONS,
        role_permissions=ROLE_PERMISSIONS,
        members=staff_queries.staff_members(),
    )


# -- audit log -------------------------------------------------------------------------------------


@bp.get("/audit/")
@staff_required("audit.view")
def audit_listing():
    """The append-only audit log, newest first; filters narrow it (HTMX swaps the results)."""
    form = AuditFilterForm(request.args)
    valid = form.validate()
    filters = staff_queries.AuditFilters(
        actor=form.actor.data or "",
        action=form.action.data or "",
        target_type=form.target_type.data or "",
        target_id=form.target_id.data or "",
        date_from=form.date_from.data if not form.date_from.errors else None,
        date_to=form.date_to.data if not form.date_to.errors else None,
    )
    results = staff_queries.audit_entries(filters, request.args.get("page", 1, type=int))
    return render(
        "staff/audit.html",
        "staff/_audit_rows.html",
        form=form,
        valid=valid,
        filters=filters,
        results=results,
        actions=staff_queries.audit_actions(),
        target_types=staff_queries.audit_target_types(),
        changes=staff_queries.audit_changes,
    )
