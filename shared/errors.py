"""Errors and how the HTTP layer reports them.

Hierarchy::

    SifangError                 base of every error a handler raises on purpose
    ├── NotFound                404: no such record (or not visible to the caller)
    ├── Forbidden               403: the caller may not act on this record
    │   └── InsufficientScope   403: the credential lacks the scope the operation needs
    ├── Unauthorized            401: no or unknown credentials
    ├── Conflict                409: the record's state does not allow this
    ├── InvalidInput            422: a value is wrong in a way the schema cannot see
    └── NotYetApplied           202: accepted onto the stream, not applied within the wait

Every 4xx response is JSON: ``{"error": code, "message": text, "errors": [{"field", "problem"}]}``.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "Conflict",
    "Forbidden",
    "InsufficientScope",
    "InvalidInput",
    "NotFound",
    "NotYetApplied",
    "SifangError",
    "Unauthorized",
    "install_error_handlers",
]

log = logging.getLogger(__name__)


class SifangError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(SifangError):
    status_code = 404
    code = "not_found"


class Forbidden(SifangError):
    status_code = 403
    code = "forbidden"


class InsufficientScope(Forbidden):
    """The credential is valid but lacks ``scope``; the body names it (field ``scope``)."""

    code = "insufficient_scope"

    def __init__(self, scope: str, message: str) -> None:
        super().__init__(message, field="scope")
        self.scope = scope


class Unauthorized(SifangError):
    status_code = 401
    code = "unauthorized"


class Conflict(SifangError):
    status_code = 409
    code = "conflict"


class InvalidInput(SifangError):
    status_code = 422
    code = "invalid_input"


class NotYetApplied(SifangError):
    """The instruction is on the stream but was not applied within the wait: it will be."""

    status_code = 202
    code = "accepted"


def _body(code: str, message: str, errors: list[dict[str, str]]) -> dict[str, Any]:
    return {"error": code, "message": message, "errors": errors}


def _field_name(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location]
    if parts and parts[0] in {"body", "query", "path", "header"} and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error a JSON body naming the field and the problem."""

    @app.exception_handler(SifangError)
    async def _sifang(_: Request, exc: SifangError) -> JSONResponse:
        errors = [{"field": exc.field, "problem": exc.message}] if exc.field else []
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
        body = _body(exc.code, exc.message, errors)
        if isinstance(exc, InsufficientScope):
            body["scope"] = exc.scope
            headers = {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{exc.scope}"'}
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_name(tuple(err.get("loc", ()))), "problem": str(err.get("msg"))}
            for err in exc.errors()
        ]
        summary = "; ".join(f"{e['field'] or 'body'}: {e['problem']}" for e in errors)
        return JSONResponse(_body("validation_failed", summary, errors), status_code=422)

    @app.exception_handler(DBAPIError)
    async def _database(_: Request, exc: DBAPIError) -> JSONResponse:
        log.error("database unavailable: %s", exc)
        body = _body("unavailable", "the database is unavailable; nothing was changed, try again", [])
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else f"http_{exc.status_code}"
        return JSONResponse(
            _body(code, str(exc.detail), []), status_code=exc.status_code, headers=exc.headers
        )
