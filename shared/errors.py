"""Errors a handler raises on purpose; free of any web framework.

Hierarchy (with the HTTP status ``shared.http_errors`` reports each as)::

    SifangError                 400: base of every error a handler raises on purpose
    ├── NotFound                404: no such record (or not visible to the caller)
    ├── Forbidden               403: the caller may not act on this record
    │   └── InsufficientScope   403: the credential lacks the scope the operation needs
    ├── Unauthorized            401: no or unknown credentials
    ├── Conflict                409: the record's state does not allow this
    ├── InvalidInput            422: a value is wrong in a way the schema cannot see
    ├── NotYetApplied           202: accepted onto the stream, not applied within the wait
    ├── Unavailable             503: a service this one relies on cannot answer now (or is not
    │                                configured); ``retry_after`` seconds when it may pass
    └── BadGateway              502: a service this one relies on answered what it should not

``code`` is the machine-readable name the HTTP body carries as ``error``.
"""

__all__ = [
    "BadGateway",
    "Conflict",
    "Forbidden",
    "InsufficientScope",
    "InvalidInput",
    "NotFound",
    "NotYetApplied",
    "SifangError",
    "Unauthorized",
    "Unavailable",
]


class SifangError(Exception):
    code = "bad_request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(SifangError):
    code = "not_found"


class Forbidden(SifangError):
    code = "forbidden"


class InsufficientScope(Forbidden):
    """The credential is valid but lacks ``scope``; the body names it (field ``scope``)."""

    code = "insufficient_scope"

    def __init__(self, scope: str, message: str) -> None:
        super().__init__(message, field="scope")
        self.scope = scope


class Unauthorized(SifangError):
    code = "unauthorized"


class Conflict(SifangError):
    code = "conflict"


class InvalidInput(SifangError):
    code = "invalid_input"


class NotYetApplied(SifangError):
    """The instruction is on the stream but was not applied within the wait: it will be."""

    code = "accepted"


class Unavailable(SifangError):
    """Another service cannot answer now; with ``retry_after`` (seconds) it may soon."""

    code = "unavailable"

    def __init__(self, message: str, field: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(message, field)
        self.retry_after = retry_after


class BadGateway(SifangError):
    code = "bad_gateway"
