"""JSON API support: the error shape, pagination, token auth, schema and docs."""

import functools
from collections.abc import Callable
from urllib.parse import urlencode

from flask import Blueprint, current_app, jsonify, make_response, render_template, request
from flask_jwt_extended import get_current_user, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt.exceptions import PyJWTError
from werkzeug.exceptions import HTTPException

from tradeapp.errors import DomainError
from tradeapp.permissions import has_permission

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

bp = Blueprint("apidocs", __name__)

CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    500: "server_error",
}


def error_response(status: int, message: str, code: str | None = None, fields: dict | None = None, headers=None):
    """``{"error", "code", "fields"}`` with ``status``."""
    response = make_response(
        jsonify(error=message, code=code or CODES.get(status, "error"), fields=fields or {}), status
    )
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def domain_error_response(exc: DomainError):
    headers = {}
    if getattr(exc, "retry_after", None):
        headers["Retry-After"] = str(exc.retry_after)
    return error_response(exc.status, exc.message, exc.code, exc.fields, headers)


def http_error_response(exc: HTTPException):
    """JSON for an HTTPException, including webargs' validation errors (as 400)."""
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages")
    if status == 422 and messages:
        fields: dict[str, list[str]] = {}
        for location_errors in messages.values():
            _flatten(location_errors, fields)
        return error_response(400, "Invalid input.", "validation_error", fields)
    message = data.get("message") or (exc.description if status != 500 else "Server error.")
    return error_response(status, message, CODES.get(status))


def _flatten(errors, out: dict, prefix: str = "") -> None:
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                out.setdefault(name, []).extend(value)
            else:
                _flatten(value, out, name)
    elif isinstance(errors, list):
        out.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in errors)
    else:
        out.setdefault(prefix or "non_field_errors", []).append(str(errors))


def paginate(query, schema, *, page_size: int = DEFAULT_PAGE_SIZE) -> dict:
    """``{"count", "next", "previous", "results"}`` for a SQLAlchemy select; ?page=&page_size=."""
    from sqlalchemy import func, select

    from tradeapp.extensions import db

    try:
        page = max(int(request.args.get("page", 1)), 1)
        size = min(max(int(request.args.get("page_size", page_size)), 1), MAX_PAGE_SIZE)
    except ValueError:
        page, size = 1, page_size
    count = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.scalars(query.limit(size).offset((page - 1) * size)).all()

    def link(number: int) -> str:
        args = request.args.to_dict()
        args["page"] = str(number)
        return f"{request.base_url}?{urlencode(args)}"

    return {
        "count": count,
        "next": link(page + 1) if page * size < count else None,
        "previous": link(page - 1) if page > 1 else None,
        "results": schema.dump(rows, many=True),
    }


def token_required(permission: str | None = None) -> Callable:
    """A valid access token (``Authorization: Bearer``); with ``permission``, staff only (403)."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                verify_jwt_in_request()
            except (JWTExtendedException, PyJWTError):
                return error_response(401, "Authentication credentials were not provided or are invalid.", "not_authenticated")
            user = get_current_user()
            if user is None:
                return error_response(401, "User not found or inactive.", "not_authenticated")
            if permission is not None and not has_permission(user, permission):
                return error_response(403, "You do not have permission to perform this action.", "permission_denied")
            return view(*args, **kwargs)

        wrapper.required_permission = permission
        return wrapper

    return decorator


def api_user():
    """The user of the current token (after ``token_required``)."""
    return get_current_user()


@bp.get("/api/schema/")
def schema():
    """The OpenAPI 3 document, generated from the registered API blueprints."""
    from tradeapp.extensions import api

    return jsonify(api.spec.to_dict())


@bp.get("/api/docs/")
def docs():
    """Interactive documentation (self-hosted Swagger UI)."""
    return render_template("api/docs.html", title=current_app.config["API_TITLE"])
