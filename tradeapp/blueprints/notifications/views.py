"""Customer notification pages: the bell's dropdown, the notifications page, mark read, preferences."""

import math
from dataclasses import dataclass

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from tradeapp.extensions import db
from tradeapp.forms import BaseForm
from tradeapp.models.notifications import Notification
from tradeapp.services import notifications
from tradeapp.web import FORM_EXPIRED, after_settle, login_required, render, swap_row, toast

bp = Blueprint("notifications", __name__)

PAGE_SIZE = 25
MENU_SIZE = 8


@dataclass
class Page:
    items: list[Notification]
    page: int
    pages: int
    total: int


def _filters() -> dict:
    """``kind`` and ``unread`` from the query string; anything unknown is ignored."""
    kind = request.args.get("kind") or None
    if kind not in notifications.KINDS:
        kind = None
    unread = request.args.get("unread") in ("1", "true", "on")
    return {"kind": kind, "unread": unread}


def _page(filters: dict) -> Page:
    try:
        number = max(1, int(request.args.get("page", 1)))
    except ValueError:
        number = 1
    query = notifications.for_user(
        current_user.id, unread=True if filters["unread"] else None, kind_name=filters["kind"]
    )
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pages = max(1, math.ceil(total / PAGE_SIZE))
    items = db.session.scalars(query.limit(PAGE_SIZE).offset((number - 1) * PAGE_SIZE)).all()
    return Page(list(items), number, pages, total)


def _list_context() -> dict:
    filters = _filters()
    args = {k: v for k, v in (("kind", filters["kind"]), ("unread", "1" if filters["unread"] else None)) if v}

    def page_url(number: int) -> str:
        return url_for("notifications.notifications_page", **args, page=number)

    return {
        "results": _page(filters),
        "filters": filters,
        "filter_args": args,
        "page_url": page_url,
        "kinds": [notifications.KINDS[k] for k in notifications.kinds_of(current_user.id) if k in notifications.KINDS],
        "unread": notifications.unread_count(current_user.id),
    }


@bp.get("/notifications/")
@login_required
def notifications_page():
    """Every notification, newest first, with filters (kind, unread); refreshes on a live one."""
    return render("notifications/page.html", "notifications/_list.html", **_list_context())


@bp.get("/notifications/menu")
@login_required
def notifications_menu():
    """The bell's dropdown: the newest few and the unread count."""
    return render(
        "notifications/_menu.html",
        items=notifications.newest(current_user.id, MENU_SIZE),
        unread=notifications.unread_count(current_user.id),
    )


@bp.get("/notifications/<int:notification_id>/open")
@login_required
def notification_open(notification_id):
    """Follow a notification: it is marked read and the browser goes where it points."""
    note = notifications.mark_read(current_user.id, notification_id)
    if note is None:
        abort(404)
    return redirect(notifications.safe_link(note) or url_for("notifications.notifications_page"), 303)


@bp.post("/notifications/<int:notification_id>/read")
@login_required
def notification_read(notification_id):
    if not BaseForm().validate_on_submit():
        abort(400, FORM_EXPIRED)
    note = notifications.mark_read(current_user.id, notification_id)
    if note is None:
        abort(404)
    return _with_count(
        swap_row(
            "notifications/_row.html",
            redirect_to=url_for("notifications.notifications_page"),
            notice="Marked as read.",
            note=note,
        )
    )


def _with_count(response):
    """Tell the bell the new count with the answer (the live event says it too, when connected)."""
    return after_settle(response, "notificationsRead", {"unread": notifications.unread_count(current_user.id)})


@bp.post("/notifications/read-all")
@login_required
def notifications_read_all():
    if not BaseForm().validate_on_submit():
        abort(400, FORM_EXPIRED)
    updated = notifications.mark_all_read(current_user.id)
    message = (
        f"{updated} notification{'s' if updated != 1 else ''} marked as read." if updated else "Nothing was unread."
    )
    if request.args.get("from") == "menu":
        response = render(
            "notifications/_menu.html",
            items=notifications.newest(current_user.id, MENU_SIZE),
            unread=0,
        )
        return _with_count(toast(response, message))
    return _with_count(
        swap_row(
            "notifications/_list.html",
            redirect_to=url_for("notifications.notifications_page"),
            notice=message,
            **_list_context(),
        )
    )


@bp.route("/account/notifications", methods=["GET", "POST"])
@login_required
def preferences():
    """Live and e-mail per kind (in-app is always on); also shown on the account page."""
    form = BaseForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return swap_row(
                "notifications/_preferences.html",
                redirect_to=url_for("notifications.preferences"),
                error=FORM_EXPIRED,
                prefs=notifications.preferences(current_user.id),
                form=form,
            )
        changes = {
            k.name: {"live": f"live:{k.name}" in request.form, "email": f"email:{k.name}" in request.form}
            for k in notifications.KINDS.values()
        }
        prefs = notifications.set_preferences(current_user.id, changes)
        return swap_row(
            "notifications/_preferences.html",
            redirect_to=url_for("notifications.preferences"),
            notice="Your notification settings were saved.",
            prefs=prefs,
            form=BaseForm(formdata=None),
        )
    return render(
        "notifications/preferences.html",
        "notifications/_preferences.html",
        prefs=notifications.preferences(current_user.id),
        form=form,
    )


def unread_for_bell() -> int:
    """The bell's count in the page header (a Jinja global: computed only where the bell is drawn)."""
    return notifications.unread_count(current_user.id) if current_user.is_authenticated else 0


def preferences_for_account() -> dict:
    """The account page's notification card: the preferences and a form for its CSRF token."""
    return {"prefs": notifications.preferences(current_user.id), "form": BaseForm(formdata=None)}


def kind_label(name: str) -> str:
    """A kind's label for people; a kind no longer registered reads as its name."""
    kind = notifications.KINDS.get(name)
    return kind.label if kind else name.replace("_", " ").capitalize()
