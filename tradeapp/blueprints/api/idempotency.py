"""``@idempotent``: honour an ``Idempotency-Key`` on money-moving POSTs (API and web forms).

Place it below the route and authentication decorators and above ``@blp.arguments``::

    @blp.route("/transfers/", methods=["POST"])
    @token_required()
    @idempotent
    @blp.arguments(TransferSchema)
    @blp.response(201, TransactionSchema)
    def transfer_create(data): ...

The key is read from the ``Idempotency-Key`` header (or, for web forms, a hidden
``idempotency_key`` field) and scoped to the authenticated user. The same key with the same
body replays the first response (``Idempotent-Replayed: true``) without running the view again;
the same key with another body is a 422 (``idempotency_key_reused``); a duplicate that arrives
while the first is still running is a 409 (``idempotency_in_progress``). A 5xx outcome forgets
the key so the client can retry. Without a key the view runs as usual.
"""

import functools
import json
from collections.abc import Callable
from copy import deepcopy

from flask import current_app, make_response, request
from flask_jwt_extended import get_current_user
from flask_login import current_user
from flask_smorest.utils import deepupdate
from werkzeug.exceptions import HTTPException

from tradeapp.errors import DomainError
from tradeapp.extensions import db
from tradeapp.services import idempotency as service

HEADER = "Idempotency-Key"
FORM_FIELD = "idempotency_key"
REPLAYED_HEADER = "Idempotent-Replayed"
FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

_DOC = {
    "parameters": [
        {
            "in": "header",
            "name": HEADER,
            "required": False,
            "schema": {"type": "string", "maxLength": service.MAX_KEY_LENGTH},
            "description": "A unique key per operation (e.g. a UUID). Retrying with the same key and body "
            "returns the first response, marked `Idempotent-Replayed: true`, without doing it twice. "
            "Keys are kept for 24 hours.",
        }
    ],
    "responses": {
        "409": {
            "description": "A request with this key is still being processed (`idempotency_in_progress`)",
            "content": {"application/json": {"schema": "Error"}},
        },
        "422": {
            "description": "This key was used for a different request (`idempotency_key_reused`)",
            "content": {"application/json": {"schema": "Error"}},
        },
    },
}


def _user_id() -> int | None:
    """The token's user (API) or the session's user (web), if any."""
    try:
        user = get_current_user()
    except RuntimeError:  # no token was verified for this request
        user = None
    if user is None and current_user.is_authenticated:
        user = current_user
    return user.id if user is not None else None


def _key() -> str:
    key = request.headers.get(HEADER, "")
    if not key and request.mimetype in FORM_MIMETYPES:
        key = request.form.get(FORM_FIELD, "")
    return key.strip()


def _body_hash() -> str:
    """sha256 of the raw body; forms (already parsed for CSRF) by their fields, minus the token."""
    if request.mimetype in FORM_MIMETYPES:
        items = sorted((k, v) for k, v in request.form.items(multi=True) if k != "csrf_token")
        return service.request_hash(json.dumps(items).encode())
    return service.request_hash(request.get_data(cache=True))


def _replay(claim: service.Claim):
    mimetype = "application/json" if request.path.startswith("/api/") else "text/html"
    response = current_app.response_class(claim.response_body or "", status=claim.status_code, mimetype=mimetype)
    response.headers[REPLAYED_HEADER] = "true"
    return response


def idempotent(view: Callable) -> Callable:
    """Run ``view`` at most once per ``Idempotency-Key`` and user; replay its answer to retries."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = _key()
        user_id = _user_id()
        if not key or user_id is None:
            return view(*args, **kwargs)
        try:
            claim = service.claim(user_id, key, request.method, request.path, _body_hash())
        except DomainError as exc:
            return make_response(current_app.handle_user_exception(exc))
        if claim.replay:
            return _replay(claim)
        try:
            try:
                response = make_response(view(*args, **kwargs))
            except DomainError as exc:
                db.session.rollback()
                response = make_response(current_app.handle_user_exception(exc))
            except Exception as exc:
                if not isinstance(exc, HTTPException) or (exc.code or 500) >= 500:
                    raise
                db.session.rollback()
                response = make_response(current_app.handle_user_exception(exc))
        except BaseException:
            db.session.rollback()
            service.abandon(claim.record_id)
            raise
        if response.status_code >= 500 or response.is_streamed:
            service.abandon(claim.record_id)
        else:
            service.complete(claim.record_id, response.status_code, response.get_data(as_text=True))
        return response

    wrapper._apidoc = deepcopy(getattr(view, "_apidoc", {}))
    wrapper._apidoc["manual_doc"] = deepupdate(deepcopy(wrapper._apidoc.get("manual_doc", {})), deepcopy(_DOC))
    return wrapper
