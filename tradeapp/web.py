"""Helpers shared by every page and partial: page-or-fragment answers, toasts, access decorators, loading."""

import functools
import json
from collections.abc import Callable
from typing import TypeVar

from flask import Response, abort, flash, jsonify, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from tradeapp.errors import DomainError, NotFound
from tradeapp.extensions import db
from tradeapp.permissions import has_permission

T = TypeVar("T")


def is_htmx() -> bool:
    """An HTMX request that wants a fragment (history restores want the whole page).

    Views do not branch on it: ``render`` and ``swap_row`` decide, in one place.
    """
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def wants_json() -> bool:
    if request.path.startswith("/api/") or request.path.startswith("/webhooks/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def render(
    page: str,
    fragment: str | None = None,
    *,
    status_code: int = 200,
    page_context: Callable[[], dict] | None = None,
    **context,
) -> Response:
    """The full page, or only ``fragment`` for an HTMX request; varies on HX-Request.

    ``page_context`` adds what only the whole page shows (other panels), computed only when it is rendered.
    """
    if fragment and is_htmx():
        template = fragment
    else:
        template = page
        if page_context is not None:
            context = {**page_context(), **context}
    response = make_response(render_template(template, **context), status_code)
    response.vary.add("HX-Request")
    return response


def after_settle(response: Response, event: str, detail: dict | None = None) -> Response:
    """Fire ``event`` on the page once HTMX has swapped this answer in and settled."""
    events = json.loads(response.headers.get("HX-Trigger-After-Settle") or "{}")
    events[event] = detail
    response.headers["HX-Trigger-After-Settle"] = json.dumps(events)
    return response


def toast(response: Response, message: str | None, level: str = "success") -> Response:
    """Show ``message`` in the layout's toast region (static/js/app.js) once HTMX has swapped the answer in."""
    if message:
        after_settle(response, "toast", {"message": str(message), "level": level})
    return response


def swap_row(
    fragment: str,
    *,
    redirect_to: str,
    page: str | None = None,
    page_context: Callable[[], dict] | None = None,
    notice: str | None = None,
    error: str | None = None,
    level: str | None = None,
    status_code: int | None = None,
    trigger: str | None = None,
    **context,
) -> Response:
    """The one answer to an action on a row, card, panel or form.

    HTMX gets ``fragment`` (``notice``/``error`` shown in it and as a toast; 422 on an error; ``trigger``
    fired so other regions refresh). A plain request gets the flash and a 303 to ``redirect_to``, or, when
    it failed and ``page`` is given, that page (plus ``page_context()``) with the errors and the status.
    """
    status_code = status_code or (422 if error else 200)
    level = level or ("error" if error else "success")
    message = error or notice
    if is_htmx():
        response = render(
            fragment, fragment, status_code=status_code, notice=notice, error=error, level=level, **context
        )
        if trigger and status_code < 400:
            response.headers["HX-Trigger"] = trigger
        return toast(response, message, level)
    if page is not None and status_code >= 400:
        return render(page, status_code=status_code, page_context=page_context, notice=notice, error=error, **context)
    if message:
        flash(message, level)
    return redirect(redirect_to, 303)


#: what a POST without a valid CSRF token (a page left open too long) is told
FORM_EXPIRED = "The form expired; reload the page."


def attempt(
    form: FlaskForm, action: Callable[[], T], invalid: str | None = FORM_EXPIRED
) -> tuple[T | None, str | None]:
    """Check ``form``, then run ``action`` (one service call): ``(its result, None)`` or ``(None, why not)``.

    ``why not`` is ``invalid`` when the form does not validate (its field errors stay on the form) or the
    service's message when it refuses; a NotFound still answers 404.
    """
    if not form.validate_on_submit():
        return None, invalid
    try:
        return action(), None
    except NotFound:
        raise
    except DomainError as exc:
        return None, exc.message


def redirect_client(url: str, code: int = 303) -> Response:
    """Send the browser to ``url``: ``HX-Redirect`` for HTMX (a redirect would be swapped in), else ``code``."""
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, code)


def full_page(page: str, *, url: str, status_code: int = 200, **context) -> Response:
    """A page that never fits a fragment's slot: an HTMX request is sent to ``url`` to load it whole."""
    if is_htmx():
        return redirect_client(url)
    return render(page, status_code=status_code, **context)


def _deny_unauthenticated():
    if wants_json():
        return make_response(jsonify(error="Authentication required.", code="not_authenticated", fields={}), 401)
    return redirect_client(url_for("users.login", next=request.full_path.rstrip("?")), 302)


def login_required(view: Callable) -> Callable:
    """Customers and staff with a web session; answers JSON 401, HX-Redirect or a redirect."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return _deny_unauthenticated()
        return view(*args, **kwargs)

    return wrapper


def staff_required(permission: str = "staff.dashboard") -> Callable:
    """Staff with a confirmed second factor and ``permission``; customers get 403."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return _deny_unauthenticated()
            if not current_user.is_staff:
                abort(403)
            if not session.get("staff_2fa_ok") or current_user.totp_confirmed_at is None:
                # Password alone never opens the console: enrol or verify the second factor.
                return redirect_client(url_for("staff.two_factor", next=request.full_path.rstrip("?")), 302)
            if not has_permission(current_user, permission):
                abort(403)
            return view(*args, **kwargs)

        wrapper.required_permission = permission
        return wrapper

    return decorator


def get_or_404(model, ident):
    obj = db.session.get(model, ident)
    if obj is None:
        abort(404)
    return obj


def get_owned_or_404(model, ident, user=None, owner_attr: str = "user_id"):
    """The object if it belongs to ``user`` (default: the current user); 404 otherwise.

    :raise 404: when it does not exist or belongs to someone else
    """
    user = user or current_user
    obj = db.session.get(model, ident)
    if obj is None or getattr(obj, owner_attr) != user.id:
        abort(404)
    return obj


def safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths are followed after login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    # Browsers drop tabs and newlines inside URLs, so "/\t/evil.example" would become "//evil.example".
    if any(ord(c) < 32 or ord(c) == 127 for c in target):
        return default
    return target
