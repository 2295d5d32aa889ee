"""Domain errors raised by services; views turn them into form errors or 4xx JSON."""


class DomainError(Exception):
    """A rule refused the operation; nothing was changed."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if code:
            self.code = code


class ValidationFailed(DomainError):
    code = "validation_error"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class PermissionDenied(DomainError):
    status = 403
    code = "permission_denied"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class AuthenticationFailed(DomainError):
    status = 401
    code = "authentication_failed"


class AccountLocked(DomainError):
    status = 429
    code = "account_locked"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class IllegalTransition(DomainError):
    status = 409
    code = "illegal_transition"
