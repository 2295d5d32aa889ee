"""Helpers shared by every page and partial: HTMX detection, access decorators, loading."""

import functools
from collections.abc import Callable

from flask import abort, jsonify, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user

from tradeapp.extensions import db
from tradeapp.permissions import has_permission


def is_htmx() -> bool:
    """An HTMX request that wants a fragment (history restores want the whole page)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def wants_json() -> bool:
    if request.path.startswith("/api/") or request.path.startswith("/webhooks/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def render(page: str, fragment: str | None = None, **context):
    """The full page, or only ``fragment`` for an HTMX request; varies on HX-Request."""
    template = fragment if fragment and is_htmx() else page
    response = make_response(render_template(template, **context))
    response.vary.add("HX-Request")
    return response


def _deny_unauthenticated():
    if wants_json():
        return make_response(jsonify(error="Authentication required.", code="not_authenticated", fields={}), 401)
    login = url_for("users.login", next=request.full_path.rstrip("?"))
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = login
        return response
    return redirect(login)


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
                target = url_for("staff.two_factor", next=request.full_path.rstrip("?"))
                if is_htmx():
                    response = make_response("", 204)
                    response.headers["HX-Redirect"] = target
                    return response
                return redirect(target)
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
