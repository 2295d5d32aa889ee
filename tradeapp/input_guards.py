"""Hostile input stops at the door with a clear 4xx, before any view or database sees it.

- Integer path segments (``<int:id>``) match only values an id column can hold (32-bit INTEGER
  primary keys): a larger id is a 404, not a database overflow.
- Integer-looking query values beyond that, and ``?page=`` beyond :data:`MAX_PAGE`, are a 400.
- NUL characters in the path, the query, form fields or a JSON body are a 400: PostgreSQL text
  cannot hold them, and no legitimate client sends them.
Request-body decoding itself (JSON numbers, nesting depth) belongs to the API package.
"""

import re

from flask import Flask, request
from werkzeug.routing import IntegerConverter

from tradeapp.errors import ValidationFailed

#: the largest id: primary and foreign keys are INTEGER (PostgreSQL int4)
ID_MAX = 2**31 - 1
#: deepest page a list serves; (page - 1) × page size must stay far inside a 64-bit offset
MAX_PAGE = 1_000_000
PAGE_ARGS = ("page", "page_size")

_INTEGER = re.compile(r"[+-]?[0-9]+")
#: a JSON string escape for NUL: an odd number of backslashes, then u0000
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)


class IdConverter(IntegerConverter):
    """``<int:…>`` that matches 0 … :data:`ID_MAX` only (and documents that maximum in OpenAPI)."""

    def __init__(self, map, fixed_digits=0, min=None, max=ID_MAX, signed=False):  # noqa: A002 - werkzeug's names
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def register_input_guards(app: Flask) -> None:
    """Install the bounded int converter (before any route is added) and the request checks."""
    app.url_map.converters["int"] = IdConverter
    app.before_request(check_request_input)


def _nul_error(name: str) -> ValidationFailed:
    message = "This value contains a NUL character, which is not allowed."
    return ValidationFailed("The request contains a NUL character.", {name: [message]}, code="invalid_characters")


def check_request_input() -> None:
    """Refuse NUL characters anywhere in the request's text and out-of-range numbers in the query.

    :raise ValidationFailed: ``invalid_characters`` or ``out_of_range`` (400)
    """
    if "\x00" in request.path:
        raise _nul_error("path")
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            raise _nul_error(name.replace("\x00", ""))
        _check_number(name, value)
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for name, value in request.form.items(multi=True):
                name, value = name or "", value or ""  # a multipart part may come without a name
                if "\x00" in name or "\x00" in value:
                    raise _nul_error(name.replace("\x00", ""))
        elif request.is_json:
            body = request.get_data(cache=True)
            if b"\x00" in body or _JSON_NUL.search(body):
                raise _nul_error("body")


def _check_number(name: str, value: str) -> None:
    text = value.strip()
    if not _INTEGER.fullmatch(text):
        return  # not a number: each view's own parsing answers that
    number = int(text)
    limit = MAX_PAGE if name in PAGE_ARGS else ID_MAX
    if abs(number) > limit:
        raise ValidationFailed(
            "A number in the query is out of range.", {name: [f"At most {limit}."]}, code="out_of_range"
        )
