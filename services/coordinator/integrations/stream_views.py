"""Server-sent events: the coordinator's accepted events over HTTP for those who cannot speak NATS.

``GET /stream`` sends every event in the coordinator's log (``services.coordinator.feed``:
what it accepted, in the order it applied it) that passes the filters, with the log
``position`` as the SSE ``id``. A client that reconnects with ``Last-Event-ID`` (or
``?after=``) resumes right after the last event it saw; without either it gets new events
only, or ``?since=`` (an RFC 3339 time) replays from the first event of that time or later.
Comments keep the connection alive every 15 seconds.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from services.coordinator.access.dependencies import require
from services.coordinator.integrations.feed import FeedPage, Wakeup, entries_after, head, position_before
from shared.app import Runtime, RuntimeDep
from shared.errors import InvalidInput
from shared.events.filters import EventFilter

__all__ = ["router", "sse_response", "start_position"]

router = APIRouter(dependencies=[require("read:events")], tags=["integration"])
KEEPALIVE_SECONDS = 15.0
POLL_SECONDS = 0.5  # longest wait for a new event when no wake-up comes
BATCH = 200
MAX_POSITION = 2**63 - 1


def _after(after: int | None, last_event_id: str | None) -> int | None:
    if last_event_id:
        if not last_event_id.isdigit() or int(last_event_id) > MAX_POSITION:
            raise InvalidInput(
                "Last-Event-ID is the log position of an event (a whole number)", field="Last-Event-ID"
            )
        return int(last_event_id)
    return after


class EventStreamResponse(StreamingResponse):
    """How ``/stream`` answers (for OpenAPI): ``text/event-stream``."""

    media_type = "text/event-stream"


@router.get(
    "/stream",
    summary="Server-sent events of accepted events, resumable with Last-Event-ID",
    response_class=EventStreamResponse,
)
async def stream(
    request: Request,
    runtime: RuntimeDep,
    type: Annotated[list[str], Query(description="event types")] = [],  # noqa: B006
    kind: Annotated[list[str], Query(description="publishing kinds")] = [],  # noqa: B006
    region: Annotated[list[str], Query(description="region codes, any level")] = [],  # noqa: B006
    organisation_id: Annotated[list[str], Query()] = [],  # noqa: B006
    after: Annotated[
        int | None, Query(ge=0, le=MAX_POSITION, description="resume after this log position")
    ] = None,
    since: datetime | None = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    wanted = EventFilter(tuple(type), tuple(kind), tuple(region), tuple(organisation_id))
    start = await asyncio.to_thread(
        start_position, runtime.session_factory, _after(after, last_event_id), since
    )
    return sse_response(request, runtime, wanted, start)


def start_position(
    session_factory: sessionmaker[Session], after: int | None = None, since: datetime | None = None
) -> int:
    """Where a follower starts: after ``after``, from ``since``, or else at the head (new only)."""
    if after is not None:
        return after
    with session_factory() as session:
        return position_before(session, since) if since is not None else head(session)


def _page(session_factory: sessionmaker[Session], after: int, wanted: EventFilter) -> FeedPage:
    with session_factory() as session:
        return entries_after(session, after, wanted, BATCH)


def feed_wakeup(request: Request) -> Wakeup | None:
    """The app's wake-up for newly applied events, if it has one (else followers poll)."""
    wakeup = getattr(request.app.state, "feed_wakeup", None)
    return wakeup if isinstance(wakeup, Wakeup) else None


def sse_response(
    request: Request, runtime: Runtime, wanted: EventFilter, after: int, *, named: bool = True
) -> StreamingResponse:
    """Stream the logged events ``wanted`` lets through, after position ``after``, as SSE;
    ``named`` gives each its type as the SSE event name (a page listening to every event wants
    it off)."""
    wakeup = feed_wakeup(request) or Wakeup()

    async def events() -> AsyncIterator[str]:
        cursor = after
        quiet_since = time.monotonic()
        yield ": connected\n\n"
        while not await request.is_disconnected():
            ticket = wakeup.ticket()
            page = await asyncio.to_thread(_page, runtime.session_factory, cursor, wanted)
            cursor = page.last_position
            for entry in page.entries:
                name = f"event: {entry.event_type}\n" if named else ""
                yield f"id: {entry.position}\n{name}data: {entry.payload}\n\n"
            if page.entries:
                quiet_since = time.monotonic()
                if len(page.entries) == BATCH:
                    continue
            elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                quiet_since = time.monotonic()
            await wakeup.wait(POLL_SECONDS, ticket)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
