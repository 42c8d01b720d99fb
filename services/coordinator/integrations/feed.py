"""What integrators see: the events the coordinator accepted, in the order it applied them.

The coordinator's event log (``event_log``) holds every event it applied — the stakeholders'
events it accepted and the events it emitted itself — numbered by ``position`` (1, 2, 3, ...)
in the order applied. Refused events (dead letters, events still held) are never in it. SSE
and webhooks read this log and nothing else, so they never carry a refused event, and a
position is a cursor: every entry after it, in position order, is what a follower has not
seen yet.

The cursor is safe because positions become visible in increasing order: each is the
previous maximum plus one, written in the applying transaction under a unique constraint,
so a transaction cannot commit position n + 1 before n is committed.
"""

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from services.coordinator.journal.models import EventLogEntry
from shared.events.envelope import CloudEvent
from shared.events.filters import EventFilter

__all__ = ["FeedEntry", "FeedPage", "Wakeup", "entries_after", "head", "position_before"]

SCAN = 500  # log rows read per query while looking for entries a filter passes


@dataclass(frozen=True)
class FeedEntry:
    """One accepted event as integrators receive it."""

    position: int
    subject: str  # the NATS subject it travelled on
    event_id: str
    event_type: str
    stream_sequence: int | None
    payload: str  # the CloudEvent, structured JSON mode


@dataclass(frozen=True)
class FeedPage:
    entries: list[FeedEntry]
    last_position: int  # continue after this: every entry up to it has been looked at


def head(session: Session) -> int:
    """The position of the last entry applied (0 for an empty log)."""
    return session.scalar(select(func.max(EventLogEntry.position))) or 0


def position_before(session: Session, since: datetime) -> int:
    """The cursor from which a follower sees everything from the first entry whose event time
    is ``since`` or later (the head when there is none)."""
    first = session.scalar(select(func.min(EventLogEntry.position)).where(EventLogEntry.time >= since))
    return first - 1 if first is not None else head(session)


def entries_after(
    session: Session, position: int, wanted: EventFilter | None = None, limit: int = 100
) -> FeedPage:
    """Up to ``limit`` entries after ``position`` that ``wanted`` lets through, in position order."""
    wanted = wanted or EventFilter()
    entries: list[FeedEntry] = []
    cursor = position
    # Read first: every position up to it is committed (see above), so once the narrowed log
    # is exhausted the cursor may skip to it over entries the SQL filter left out.
    top = head(session)
    while len(entries) < limit:
        rows = list(session.scalars(_narrowed(wanted, cursor).limit(SCAN)))
        for row in rows:
            cursor = row.position
            if wanted.matches(row.nats_subject, {"type": row.type, "source": row.source, "data": row.data}):
                entries.append(_entry(row))
                if len(entries) == limit:
                    return FeedPage(entries, cursor)
        if len(rows) < SCAN:
            return FeedPage(entries, max(cursor, top))
    return FeedPage(entries, cursor)


def _narrowed(wanted: EventFilter, position: int) -> Select[EventLogEntry]:
    """The log after ``position``, narrowed in SQL by what the indexed columns can decide."""
    query = select(EventLogEntry).where(EventLogEntry.position > position)
    if wanted.types:
        query = query.where(EventLogEntry.type.in_(wanted.types))
    if wanted.kinds:
        query = query.where(EventLogEntry.kind.in_(wanted.kinds))
    return query.order_by(EventLogEntry.position)


def _entry(row: EventLogEntry) -> FeedEntry:
    # The log keeps every attribute of the envelope; ``dataschema`` follows from the type.
    envelope = CloudEvent.model_construct(
        id=row.event_id,
        source=row.source,
        type=row.type,
        subject=row.entity_id,
        time=row.time,
        dataschema=f"urn:sifang:event:{row.type}",
        region=row.region,
        correlationid=row.correlation_id,
        causationid=row.causation_id,
        data=row.data,
    )
    return FeedEntry(
        position=row.position,
        subject=row.nats_subject,
        event_id=row.event_id,
        event_type=row.type,
        stream_sequence=row.stream_sequence,
        payload=envelope.to_json().decode(),
    )


class Wakeup:
    """Tells waiting tasks that something new is there; ``wake`` is safe from any thread.

    Waiters also wake by themselves after their timeout, so a missed wake-up only costs time.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def wake(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(self._set)

    def _set(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None  # later waiters wait for the next wake-up

    def ticket(self) -> asyncio.Event:
        """Take before looking for work: waiting on it then misses no wake-up in between."""
        self._loop = asyncio.get_running_loop()
        if self._event is None:
            self._event = asyncio.Event()
        return self._event

    async def wait(self, timeout: float, ticket: asyncio.Event | None = None) -> None:  # noqa: ASYNC109
        """Return at the next wake-up (since ``ticket`` was taken), or after ``timeout`` seconds."""
        event = ticket or self.ticket()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=max(timeout, 0.0))
