"""App-wide error handlers: JSON for the API and JSON clients, pages in the site's style otherwise."""

import logging

from flask import Flask, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, InternalServerError

from tradeapp.blueprints.api import domain_error_response, error_response, http_error_response
from tradeapp.errors import DomainError
from tradeapp.web import wants_json

log = logging.getLogger(__name__)

TITLES = {
    400: "Bad request",
    401: "Please log in",
    403: "Access denied",
    404: "Page not found",
    405: "Method not allowed",
    413: "Upload too large",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Busy, try again",
}


#: SQLSTATEs of conflicts that abort a transaction without changing anything: deadlock,
#: serialization failure, lock not available
TRANSIENT_SQLSTATES = {"40P01", "40001", "55P03"}


def is_transient(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in TRANSIENT_SQLSTATES


def _page(status: int, message: str | None = None):
    staff = request.path.startswith("/staff/")
    return (
        render_template(
            "errors/error.html", status=status, title=TITLES.get(status, "Error"), message=message, staff=staff
        ),
        status,
    )


def register_error_pages(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        if wants_json():
            return error_response(400, "CSRF token missing or invalid.", "csrf_failed")
        return _page(400, "Your form expired or was sent from another site. Go back, reload the page and try again.")

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        if wants_json():
            return domain_error_response(exc)
        return _page(exc.status, exc.message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        if wants_json():
            response = http_error_response(exc)
        elif status == 429:
            # The limiter's description ("5 per 1 minute") is for logs; people get a sentence.
            response = _page(429, "You have tried this too many times. Please wait a minute and try again.")
        else:
            response = _page(status, None if status >= 500 else exc.description)
        if status == 429:
            response = make_response(response)
            response.headers["Retry-After"] = "60"
        return response

    @app.errorhandler(RecursionError)
    def too_deep(exc: RecursionError):
        # Only hostile input nests deep enough to exhaust the stack (a JSON body, say): a 400, never a 500.
        log.warning("recursion limit on %s %s", request.method, request.path)
        message = "The request is nested too deeply."
        if wants_json():
            return error_response(400, message, "too_deep")
        return _page(400, message)

    @app.errorhandler(DBAPIError)
    def database_error(exc: DBAPIError):
        # A deadlock or serialization failure lost a race and changed nothing: the client may retry.
        if not is_transient(exc):
            return unhandled(exc)
        from tradeapp.extensions import db

        db.session.rollback()
        log.warning("transient database conflict on %s %s: %s", request.method, request.path, type(exc.orig).__name__)
        message = "The service is busy with a conflicting request. Please try again."
        response = make_response(error_response(503, message, "busy") if wants_json() else _page(503, message))
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(Exception)
    def unhandled(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if app.config.get("TESTING") and app.config.get("PROPAGATE_TEST_ERRORS", True):
            raise exc
        if wants_json():
            return http_error_response(InternalServerError())
        return _page(500)
