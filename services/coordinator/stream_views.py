"""Server-sent events: the event stream over HTTP for those who cannot speak NATS.

``GET /stream`` sends every event on the stream that passes the filters, as it arrives, with
the stream sequence as the SSE ``id``. A client that reconnects with ``Last-Event-ID`` (or
``?after=``) resumes right after the last event it saw; without either it gets new events
only, or ``?since=`` (an RFC 3339 time) replays from that time. Comments keep the connection
alive every 15 seconds.
"""

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from nats.js.api import ConsumerConfig, DeliverPolicy

from shared.app import AdminDep, Runtime, RuntimeDep
from shared.errors import InvalidInput
from shared.events.filters import EventFilter

__all__ = ["router", "sse_response"]

router = APIRouter(dependencies=[AdminDep], tags=["integration"])
KEEPALIVE_SECONDS = 15.0


def _start(after: int | None, last_event_id: str | None, since: datetime | None) -> ConsumerConfig:
    if last_event_id:
        if not last_event_id.isdigit():
            raise InvalidInput("Last-Event-ID is the stream sequence of an event", field="Last-Event-ID")
        after = int(last_event_id)
    if after is not None:
        return ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1)
    if since is not None:
        return ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=since)
    return ConsumerConfig(deliver_policy=DeliverPolicy.NEW)


@router.get("/stream", summary="Server-sent events, filtered, resumable with Last-Event-ID")
async def stream(
    request: Request,
    runtime: RuntimeDep,
    type: Annotated[list[str], Query(description="event types")] = [],  # noqa: B006
    kind: Annotated[list[str], Query(description="publishing kinds")] = [],  # noqa: B006
    region: Annotated[list[str], Query(description="region codes, any level")] = [],  # noqa: B006
    organisation_id: Annotated[list[str], Query()] = [],  # noqa: B006
    after: Annotated[int | None, Query(ge=0, description="resume after this stream sequence")] = None,
    since: datetime | None = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    wanted = EventFilter(tuple(type), tuple(kind), tuple(region), tuple(organisation_id))
    return await sse_response(request, runtime, wanted, _start(after, last_event_id, since))


async def sse_response(
    request: Request, runtime: Runtime, wanted: EventFilter, config: ConsumerConfig, *, named: bool = True
) -> StreamingResponse:
    """Stream the events ``wanted`` lets through, from where ``config`` starts, as SSE; ``named``
    gives each its type as the SSE event name (a page listening to every event wants it off)."""
    js = await runtime.link.jetstream()
    subject = wanted.subjects[0] if len(wanted.subjects) == 1 else "sifang.>"
    subscription = await js.subscribe(subject, ordered_consumer=True, config=config)

    async def events() -> AsyncIterator[str]:
        try:
            yield ": connected\n\n"
            while not await request.is_disconnected():
                try:
                    message = await subscription.next_msg(timeout=KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                try:
                    event = json.loads(message.data)
                except ValueError:
                    continue  # not an event: the consumer's dead letters hold it
                if not isinstance(event, dict) or not wanted.matches(message.subject, event):
                    continue
                sequence = message.metadata.sequence.stream
                body = json.dumps(event, ensure_ascii=False)
                name = f"event: {event.get('type', 'message')}\n" if named else ""
                yield f"id: {sequence}\n{name}data: {body}\n\n"
        finally:
            await subscription.unsubscribe()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
