"""Staff money histories: every deposit and withdrawal, filtered, totalled and exported as CSV."""

from flask import Blueprint, Response, abort, request, stream_with_context, url_for
from flask_login import current_user

from tradeapp.models.types import utcnow
from tradeapp.permissions import has_permission
from tradeapp.services.backoffice import accounts, history
from tradeapp.web import render, staff_required

from .forms import history_filter_form

bp = Blueprint("staff_history", __name__, url_prefix="/staff/history")

#: who may read each history: the people who work its queue, and those who read reports
PERMISSIONS = {"deposits": "deposits.manage", "withdrawals": "withdrawals.manage"}


def _allowed(kind_name: str) -> bool:
    return has_permission(current_user, PERMISSIONS[kind_name]) or has_permission(current_user, "reports.view")


def _filters(kind) -> tuple:
    form = history_filter_form(kind, request.args)
    valid = form.validate()

    def ok(field):
        return field.data if not field.errors else None

    filters = history.MoneyFilters(
        status=ok(form.status) or "",
        method=ok(form.method) or "",
        currency=(ok(form.currency) or "").strip().upper(),
        user=ok(form.user) or "",
        date_from=ok(form.date_from),
        date_to=ok(form.date_to),
        amount_min=ok(form.amount_min),
        amount_max=ok(form.amount_max),
    )
    return form, valid, filters


def _listing(kind_name: str):
    if not _allowed(kind_name):
        abort(403)
    kind = history.KINDS[kind_name]
    form, valid, filters = _filters(kind)
    return render(
        "backoffice/history.html",
        "backoffice/_history_rows.html",
        kind=kind,
        form=form,
        valid=valid,
        filters=filters,
        results=history.page(kind, filters, request.args.get("page", 1, type=int)),
        totals=history.totals(kind, filters),
        export_url=url_for(f"staff_history.{kind_name}_export", **filters.as_args()),
        listing_url=url_for(f"staff_history.{kind_name}_listing"),
    )


def _export(kind_name: str):
    if not _allowed(kind_name):
        abort(403)
    kind = history.KINDS[kind_name]
    _, _, filters = _filters(kind)
    accounts.record_export(current_user, kind_name, filters.as_args())
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return Response(
        stream_with_context(history.csv_lines(kind, filters)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{kind_name}-{stamp}.csv"'},
    )


@bp.get("/deposits/")
@staff_required("staff.dashboard")
def deposits_listing():
    """Every deposit, newest first; filters narrow it, totals per currency above."""
    return _listing("deposits")


@bp.get("/deposits.csv")
@staff_required("staff.dashboard")
def deposits_export():
    """The filtered deposits as CSV (the export is audited)."""
    return _export("deposits")


@bp.get("/withdrawals/")
@staff_required("staff.dashboard")
def withdrawals_listing():
    """Every withdrawal, newest first; filters narrow it, totals per currency above."""
    return _listing("withdrawals")


@bp.get("/withdrawals.csv")
@staff_required("staff.dashboard")
def withdrawals_export():
    """The filtered withdrawals as CSV (the export is audited)."""
    return _export("withdrawals")
