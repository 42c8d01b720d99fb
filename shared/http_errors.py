"""How the HTTP layer reports errors: the one table from error class to status, and the handlers.

Every 4xx response is JSON: ``{"error": code, "message": text, "errors": [{"field", "problem"}]}``.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import (
    BadGateway,
    Conflict,
    Forbidden,
    InsufficientScope,
    InvalidInput,
    NotFound,
    NotYetApplied,
    SifangError,
    Unauthorized,
    Unavailable,
)

__all__ = ["STATUS", "error_response", "http_status", "install_error_handlers"]

log = logging.getLogger(__name__)

# A class not listed here has the status of its nearest listed base (InsufficientScope: Forbidden's).
STATUS: dict[type[SifangError], int] = {
    SifangError: 400,
    NotFound: 404,
    Forbidden: 403,
    Unauthorized: 401,
    Conflict: 409,
    InvalidInput: 422,
    NotYetApplied: 202,
    Unavailable: 503,
    BadGateway: 502,
}


def http_status(error: SifangError | type[SifangError]) -> int:
    """The HTTP status of an error (or error class): the nearest entry of ``STATUS`` along its MRO."""
    cls = error if isinstance(error, type) else type(error)
    for base in cls.__mro__:
        if base in STATUS:
            return STATUS[base]
    raise TypeError(f"{cls.__name__} is not a SifangError")


def _body(code: str, message: str, errors: list[dict[str, str]]) -> dict[str, Any]:
    return {"error": code, "message": message, "errors": errors}


def _field_name(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location]
    if parts and parts[0] in {"body", "query", "path", "header"} and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)


def error_response(exc: SifangError) -> JSONResponse:
    """The response reporting ``exc``: its status, the JSON body and the headers it calls for."""
    errors = [{"field": exc.field, "problem": exc.message}] if exc.field else []
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    body = _body(exc.code, exc.message, errors)
    if isinstance(exc, InsufficientScope):
        body["scope"] = exc.scope
        headers = {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{exc.scope}"'}
    if isinstance(exc, Unavailable) and exc.retry_after is not None:
        headers = {"Retry-After": str(exc.retry_after)}
    return JSONResponse(body, status_code=http_status(exc), headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error a JSON body naming the field and the problem."""

    @app.exception_handler(SifangError)
    async def _sifang(_: Request, exc: SifangError) -> JSONResponse:
        return error_response(exc)

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
