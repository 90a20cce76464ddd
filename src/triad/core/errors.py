"""Domain errors. Edges turn them into RFC 9457 problem details (API) or messages (pages, CLI)."""

from __future__ import annotations

from typing import Any


class TriadError(Exception):
    status = 400
    title = "Bad request"
    type_ = "about:blank"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class BadRequest(TriadError):
    """The request itself is malformed (a header, say), as opposed to an invalid field of its body (422)."""

    status = 400
    title = "Bad request"


class NotFound(TriadError):
    status = 404
    title = "Not found"


class PermissionDenied(TriadError):
    status = 403
    title = "Forbidden"


class NotAuthenticated(TriadError):
    status = 401
    title = "Not authenticated"


class ValidationFailed(TriadError):
    status = 422
    title = "Validation failed"


class Conflict(TriadError):
    status = 409
    title = "Conflict"


class TooManyAttempts(TriadError):
    status = 429
    title = "Too many attempts"

    def __init__(self, detail: str, *, retry_after: int):
        super().__init__(detail)
        self.retry_after = retry_after
