"""Bounded in-flight writes: a write beyond the limit gets a fast 503 with ``Retry-After``.

Under overload a queue of waiting writes only makes every one of them slow and, past the
database's timeouts, fail after the client has waited for nothing. Refusing the excess at once
keeps the accepted writes fast and tells the client when to come back; nothing refused was
changed. Reads (GET, HEAD, OPTIONS) are not limited.

Of the admitted writes only ``workers`` run at once; the others wait their turn in the event
loop, holding no thread and no database connection. Request threads that would only queue for
SQLite's one writer still compete for the interpreter lock with the event loop, which then
accepts, answers and relays late. Writes made by group commit (``grouped``: method and path)
hold no thread while they wait for their transaction, so they take no turn: the more of them
wait, the more one commit carries.
"""

import asyncio
import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from shared.errors import Unavailable
from shared.http_errors import error_response

__all__ = ["WRITE_METHODS", "WriteLimit"]

log = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class WriteLimit:
    """ASGI middleware admitting at most ``limit`` write requests at a time (one event loop,
    so a plain counter); the next ones are answered 503 ``unavailable`` with ``Retry-After``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        retry_after: int,
        workers: int | None = None,
        grouped: frozenset[tuple[str, str]] = frozenset(),
        on_refused: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.grouped = grouped
        self.on_refused = on_refused
        self.limit = limit
        self.retry_after = retry_after
        self.in_flight = 0
        self.refused = 0
        self._turns = asyncio.Semaphore(min(workers or limit, limit))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            self.refused += 1
            if self.on_refused is not None:
                self.on_refused()
            if self.refused % 100 == 1:
                log.warning(
                    "overloaded: %d writes in flight, %d refused so far", self.in_flight, self.refused
                )
            error = Unavailable(
                f"this service is taking {self.limit} writes at once already; nothing was changed, "
                f"try again in {self.retry_after} s",
                retry_after=self.retry_after,
            )
            await error_response(error)(scope, receive, send)
            return
        self.in_flight += 1
        try:
            if (scope["method"], scope["path"]) in self.grouped:
                await self.app(scope, receive, send)
                return
            async with self._turns:
                await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
