"""JSON API support: the error shape, body parsing, pagination, token auth, the API blueprint class, docs.

Every API blueprint is an :class:`ApiBlueprint`: request bodies are JSON, form-encoded or
multipart (as the seed's DRF parsers take them), unknown and read-only fields are ignored,
validation errors are 400 with ``fields``, and the OpenAPI document describes errors as
``{"error", "code", "fields"}``.
"""

import contextlib
import functools
import http
import json
from collections.abc import Callable
from copy import deepcopy
from decimal import Decimal
from urllib.parse import urlencode

import marshmallow as ma
from flask import Blueprint, current_app, jsonify, make_response, render_template, request
from flask.json.provider import DefaultJSONProvider
from flask_jwt_extended import get_current_user, get_jwt, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest.utils import deepupdate
from jwt.exceptions import PyJWTError
from sqlalchemy import func, select
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import HTTPException

from tradeapp.amounts import AmountError, amount_text, decimals_pattern, json_number
from tradeapp.errors import DomainError
from tradeapp.extensions import api, csrf, db
from tradeapp.input_guards import MAX_PAGE
from tradeapp.permissions import has_permission

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
BEARER = [{"bearerAuth": []}]

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


# -- the error shape -------------------------------------------------------------------------


class ErrorSchema(ma.Schema):
    """Every API error: a message, a stable slug, and messages per input field."""

    error = ma.fields.String(required=True, metadata={"description": "What went wrong, for people."})
    code = ma.fields.String(
        required=True, metadata={"description": "A stable slug, for programs.", "example": "validation_error"}
    )
    fields = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        required=True,
        metadata={"description": "Messages per input field; empty when the error is not about one field."},
    )


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
    """JSON for an HTTPException, including webargs' parsing and validation errors (as 400)."""
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages")
    if isinstance(getattr(exc, "exc", None), json.JSONDecodeError | UnicodeDecodeError):
        return error_response(400, "Invalid JSON body.", "parse_error")
    if status in (400, 422) and messages:
        fields: dict[str, list[str]] = {}
        for location_errors in messages.values():
            _flatten(location_errors, fields)
        return error_response(400, "Invalid input.", "validation_error", fields)
    message = data.get("message") or (exc.description if status < 500 else "Server error.")
    headers = {}
    if status == 405:
        allow = dict(exc.get_headers()).get("Allow")
        if allow:
            headers["Allow"] = allow
    return error_response(status, message, CODES.get(status), headers=headers)


def _flatten(errors, out: dict, prefix: str = "") -> None:
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = f"{prefix}.{key}" if prefix else ("non_field_errors" if key == "_schema" else str(key))
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                out.setdefault(name, []).extend(value)
            else:
                _flatten(value, out, name)
    elif isinstance(errors, list):
        out.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in errors)
    else:
        out.setdefault(prefix or "non_field_errors", []).append(str(errors))


def multipart_body(view: Callable) -> Callable:
    """Mark an API view that takes ``multipart/form-data`` (uploads) only."""
    view.accepts_multipart = True
    return view


#: the body types the API reads, as the seed's DRF parsers (JSONParser, FormParser, MultiPartParser)
FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
BODY_MIMETYPES = ("application/json", *FORM_MIMETYPES)


def require_known_body():
    """A request body must be JSON, form-encoded or multipart (415 otherwise); bodiless POSTs pass.

    Views marked with :func:`multipart_body` take ``multipart/form-data`` only.
    """
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "accepts_multipart", False):
        if request.method in ("POST", "PUT", "PATCH") and request.mimetype != "multipart/form-data":
            return error_response(415, "Send the request body as multipart/form-data.")
        return None
    has_body = request.method in ("POST", "PUT", "PATCH") and (request.content_length or request.get_data(cache=True))
    if has_body and not (request.is_json or request.mimetype in FORM_MIMETYPES):
        return error_response(
            415, "Send the request body as JSON, application/x-www-form-urlencoded or multipart/form-data."
        )
    return None


# -- reading bodies ----------------------------------------------------------------------------------


def _refuse_constant(name: str):
    raise json.JSONDecodeError(f"{name} is not a number", name, 0)


class ApiJSONProvider(DefaultJSONProvider):
    """JSON with exact numbers: ``100.10`` decodes as ``Decimal("100.10")``, integers stay ints.

    (``1e1`` decodes as an :class:`~tradeapp.amounts.ExponentDecimal`, which amounts refuse.)

    ``NaN`` and ``Infinity`` are not JSON and are refused, and so is nesting deeper than the
    parser can follow: both as a ``JSONDecodeError``, which every caller answers with a 400.
    """

    def loads(self, s, **kwargs):
        kwargs.setdefault("parse_float", json_number)
        kwargs.setdefault("parse_constant", _refuse_constant)
        try:
            return json.loads(s, **kwargs)
        except RecursionError:
            raise json.JSONDecodeError("JSON nested too deeply", "[", 0) from None


class BodyParser(FlaskParser):
    """webargs' parser with one more location, ``body``: the JSON body, else the form (urlencoded or multipart).

    JSON numbers arrive as Decimals (see :class:`ApiJSONProvider`). Form values are strings;
    an object field (``payment_details``, ``destination_details``) takes a JSON-encoded string
    there, as DRF's JSONField does. Unknown and read-only (``dump_only``) fields are dropped.
    """

    __location_map__ = {**FlaskParser.__location_map__, "body": "load_body"}
    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "json": ma.EXCLUDE, "body": ma.EXCLUDE}
    DEFAULT_VALIDATION_STATUS = 400

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return webargs_core.missing
        return current_app.json.loads(req.get_data(cache=True))

    def load_body(self, req, schema: ma.Schema):
        if is_json_request(req):
            return self.load_json(req, schema)
        if req.mimetype not in FORM_MIMETYPES:
            return webargs_core.missing
        data = {}
        for name in req.form:
            field = _field_by_key(schema, name)
            if isinstance(field, ma.fields.List):
                data[name] = req.form.getlist(name)
                continue
            value = req.form.get(name)
            if isinstance(field, ma.fields.Dict | ma.fields.Nested) and value:
                with contextlib.suppress(ValueError):  # else the field says it wants an object
                    value = current_app.json.loads(value)
            data[name] = value
        return data


class AmountField(ma.fields.Field):
    """An amount, quantity or price: a string in the one grammar (:mod:`tradeapp.amounts`) or a JSON number.

    Loads as a Decimal, exactly as written; the service then checks it against the currency's or
    pair's decimals and limits. The OpenAPI description states the grammar (``pattern``) and the
    bounds, so schema-driven clients see the real contract. With ``allow_blank``, ``""`` loads as
    None (clears a value).
    """

    default_error_messages = {"blank": "This field may not be blank."}

    def __init__(self, *, decimals: int = 8, maximum=1_000_000_000, allow_blank: bool = False, **kwargs):
        self.allow_blank = allow_blank
        metadata = kwargs.pop("metadata", {})
        description = metadata.pop("description", "")
        string = {"type": "string", "pattern": decimals_pattern(decimals), "maxLength": 40}
        if allow_blank:
            string["pattern"] = string["pattern"].replace("^(?:", "^(?:|", 1)
        number = {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": maximum}
        grammar = (
            f"Digits with at most one dot and at most {decimals} decimals (fewer where the currency or pair "
            "allows fewer), as a string or a JSON number; no sign, exponent, spaces or other digits."
        )
        super().__init__(
            metadata={
                "oneOf": [string, number],
                "description": f"{description} {grammar}".strip(),
                **metadata,
            },
            **kwargs,
        )

    def _deserialize(self, value, attr, data, **kwargs) -> Decimal | None:
        if self.allow_blank and isinstance(value, str) and not value.strip(" "):
            return None
        if isinstance(value, str) and not value.strip(" "):
            raise self.make_error("blank")
        try:
            return Decimal(amount_text(value))
        except AmountError as exc:
            raise ma.ValidationError(str(exc)) from None


#: a path id as the routes' ``int`` converter takes it
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}


def id_parameter(name: str, description: str) -> dict:
    """The OpenAPI description of an ``<int:name>`` path parameter."""
    return {"in": "path", "name": name, "required": True, "description": description, "schema": ID_SCHEMA}


class IdField(ma.fields.Integer):
    """An object's id: a JSON integer or a string of ASCII digits (``1`` or ``"1"``, as DRF's PrimaryKeyRelatedField)."""

    def _validated(self, value):
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and value.isascii() and value.isdigit())
        ):
            raise self.make_error("invalid")
        return super()._validated(value)


def _field_by_key(schema: ma.Schema, key: str):
    for name, field in schema.fields.items():
        if (field.data_key or name) == key:
            return field
    return None


# -- pagination --------------------------------------------------------------------------------


class PageArgsSchema(ma.Schema):
    """``?page=&page_size=`` of a list endpoint."""

    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=MAX_PAGE))
    page_size = ma.fields.Integer(load_default=DEFAULT_PAGE_SIZE, validate=ma.validate.Range(min=1, max=MAX_PAGE_SIZE))

    class Meta:
        unknown = ma.EXCLUDE


@functools.cache
def page_schema(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """The ``{"count", "next", "previous", "results"}`` schema of a list of ``item_schema``.

    Use with ``@blp.response(200, page_schema(OrderSchema))`` and return ``paginate(query)``.
    """
    name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
    return ma.Schema.from_dict(
        {
            "count": ma.fields.Integer(required=True, metadata={"description": "Items in all pages."}),
            "next": ma.fields.String(allow_none=True, required=True, metadata={"description": "URL of the next page."}),
            "previous": ma.fields.String(
                allow_none=True, required=True, metadata={"description": "URL of the previous page."}
            ),
            "results": ma.fields.List(ma.fields.Nested(item_schema), required=True),
        },
        name=name,
    )


def paginate(query, schema: ma.Schema | None = None, *, page_size: int = DEFAULT_PAGE_SIZE) -> dict:
    """``{"count", "next", "previous", "results"}`` for a SQLAlchemy select; ?page=&page_size=.

    With ``schema`` the results are dumped here; without it they are the rows themselves, for a
    view whose ``@blp.response(200, page_schema(ItemSchema))`` dumps them.
    """
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
        "results": schema.dump(rows, many=True) if schema is not None else rows,
    }


# -- token auth --------------------------------------------------------------------------------


def token_required(permission: str | None = None) -> Callable:
    """A valid access token (``Authorization: Bearer``); with ``permission``, staff only (403).

    Put it below ``@blp.route`` and above ``@blp.arguments`` so callers are authenticated before
    their input is read; it adds ``bearerAuth`` and the 401/403 answers to the OpenAPI document.
    """

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                verify_jwt_in_request()
            except (JWTExtendedException, PyJWTError):
                return error_response(
                    401, "Authentication credentials were not provided or are invalid.", "not_authenticated"
                )
            user = get_current_user()
            if user is None:
                return error_response(401, "User not found or inactive.", "not_authenticated")
            if _issued_before_password_change(user):
                return error_response(401, "The password changed: log in again.", "not_authenticated")
            if permission is not None and not has_permission(user, permission):
                return error_response(403, "You do not have permission to perform this action.", "permission_denied")
            return view(*args, **kwargs)

        wrapper.required_permission = permission
        doc = {"security": BEARER, "responses": {"401": "UNAUTHORIZED"}}
        if permission is not None:
            doc["responses"]["403"] = "FORBIDDEN"
        # A copy, so the wrapped function's documentation is left alone (as flask-smorest does).
        wrapper._apidoc = deepcopy(getattr(view, "_apidoc", {}))
        wrapper._apidoc["manual_doc"] = deepupdate(deepcopy(wrapper._apidoc.get("manual_doc", {})), doc)
        return wrapper

    return decorator


def _issued_before_password_change(user) -> bool:
    """Access tokens from before the last password change (or reset) stop working at once."""
    changed = user.password_changed_at
    return changed is not None and get_jwt().get("iat", 0) < int(changed.timestamp())


def api_user():
    """The user of the current token (after ``token_required``)."""
    return get_current_user()


# -- the blueprint class every API domain uses -------------------------------------------------------


class ApiBlueprint(SmorestBlueprint):
    """A flask-smorest blueprint speaking our dialect: JSON or form bodies, 400 validation errors, our error shape."""

    ARGUMENTS_PARSER = BodyParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **SmorestBlueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "body": "application/json",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.before_request(require_known_body)

    def arguments(self, schema, *, location="body", **kwargs):
        kwargs.setdefault("error_status_code", 400)
        if isinstance(schema, type):
            # One instance for the life of the app: webargs would build a new one per request
            # (our schemas keep no per-call state, so one instance serves every thread).
            schema = schema()
        return super().arguments(schema, location=location, **kwargs)

    def _prepare_arguments_doc(self, doc, doc_info, *, api, spec, **kwargs):
        """A ``body`` argument is documented under each content type it is read from."""
        body_params = [p for p in (doc_info.get("arguments") or {}).get("parameters", []) if getattr(p, "get", None)]
        from_body = any(p.get("in") == "body" for p in body_params)
        doc = super()._prepare_arguments_doc(doc, doc_info, api=api, spec=spec, **kwargs)
        content = (doc.get("requestBody") or {}).get("content") or {}
        if from_body and "application/json" in content:
            for mimetype in FORM_MIMETYPES:
                content.setdefault(mimetype, dict(content["application/json"]))
        return doc

    def alt_response(self, status_code, response=None, *, schema=None, **kwargs):
        if response is None and schema is None and int(status_code) >= 400:
            schema = ErrorSchema
        return super().alt_response(status_code, response, schema=schema, **kwargs)

    def register_views_in_doc(self, api, app, spec, *, name, parameters):
        use_error_schema(api)
        return super().register_views_in_doc(api, app, spec, name=name, parameters=parameters)


def use_error_schema(api) -> None:
    """Describe errors in the OpenAPI document as we send them, not as flask-smorest would.

    The status responses (``BAD_REQUEST``, ``UNAUTHORIZED``…) are registered lazily by
    flask-smorest with its ``ERROR_SCHEMA``; register them again with ours before any
    operation refers to them, and set ``ERROR_SCHEMA`` so the next app bound gets ours at once.
    """
    components = api.spec.components
    # Lists page in the body ({"count", "next", "previous", "results"}), not in flask-smorest's header.
    components.schemas.pop("PaginationMetadata", None)
    if api.ERROR_SCHEMA is ErrorSchema:
        return  # flask-smorest used ours when it was bound to this app
    api.ERROR_SCHEMA = ErrorSchema
    components.schemas.pop("Error", None)  # flask-smorest's {code, status, message, errors}
    components.schema("Error", schema=ErrorSchema)
    for status in http.HTTPStatus:
        if status >= 400:
            components.response(status.name, _error_response_doc(status.phrase), lazy=True)
    components.response(api.DEFAULT_ERROR_RESPONSE_NAME or "DEFAULT_ERROR", _error_response_doc("Error"), lazy=True)


def _error_response_doc(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ErrorSchema}}}


# -- registration ------------------------------------------------------------------------------


def init_app(app) -> None:
    """The API's own pages: the OpenAPI document and its docs."""
    app.register_blueprint(bp)


def register_api(*blueprints: ApiBlueprint) -> None:
    """Register a domain's API blueprints (bearer tokens, not cookies: no CSRF)."""
    for blp in blueprints:
        csrf.exempt(blp)
        api.register_blueprint(blp)


# -- schema and docs -----------------------------------------------------------------------------


@bp.get("/api/schema/")
def schema():
    """The OpenAPI 3 document, generated from the registered API blueprints."""
    # Not jsonify: it sorts keys, and the paths read best in the order the code declares them.
    return current_app.response_class(json.dumps(api.spec.to_dict()), mimetype="application/json")


@bp.get("/api/docs/")
def docs():
    """Interactive documentation (self-hosted Swagger UI)."""
    return render_template("api/docs.html", title=current_app.config["API_TITLE"])


#: ReDoc injects its styles at run time and parses the document in a blob worker
REDOC_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'self'"
)


@bp.get("/api/redoc/")
def redoc():
    """Reference documentation (self-hosted ReDoc), beside Swagger UI as in the seed."""
    response = make_response(render_template("api/redoc.html", title=current_app.config["API_TITLE"]))
    response.headers["Content-Security-Policy"] = REDOC_CSP
    return response


API_ROOT = "/api/v1/"


@bp.get(API_ROOT)
def api_root():
    """The API root, as the seed's DefaultRouter serves it: each collection's name and absolute URL."""
    collections: dict[str, str] = {}
    for rule in current_app.url_map.iter_rules():
        path = rule.rule
        if not path.startswith(API_ROOT) or "GET" not in (rule.methods or ()) or "<" in path:
            continue
        name = path[len(API_ROOT) :].strip("/")
        if name and "/" not in name:
            collections[name] = request.host_url.rstrip("/") + path
    return jsonify(dict(sorted(collections.items())))
