"""Reads of the event log and of the dead letters."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.coordinator.journal.models import EventLogEntry, PartitionRecord
from services.coordinator.journal.schemas import DeadLetterRead, EventRead
from shared.messaging.models import DeadLetter

__all__ = ["dead_letters", "events", "partition"]


def events(
    session: Session,
    *,
    event_type: str | None = None,
    kind: str | None = None,
    region: str | None = None,
    organisation_id: str | None = None,
    entity_id: str | None = None,
    correlation_id: str | None = None,
    after_sequence: int = 0,
    limit: int = 100,
) -> list[EventRead]:
    """The events after ``after_sequence`` in stream order; each filter given must equal its field."""
    query = select(EventLogEntry).where(EventLogEntry.stream_sequence > after_sequence)
    filters = {
        EventLogEntry.type: event_type,
        EventLogEntry.kind: kind,
        EventLogEntry.region: region,
        EventLogEntry.organisation_id: organisation_id,
        EventLogEntry.entity_id: entity_id,
        EventLogEntry.correlation_id: correlation_id,
    }
    for column, value in filters.items():
        if value:
            query = query.where(column == value)
    rows = session.scalars(query.order_by(EventLogEntry.stream_sequence).limit(limit))
    return [EventRead.model_validate(row) for row in rows]


def dead_letters(session: Session, *, limit: int = 100, offset: int = 0) -> list[DeadLetterRead]:
    """The dead letters, oldest first, their payload decoded as UTF-8 (bad bytes replaced)."""
    query = select(DeadLetter).order_by(DeadLetter.id).limit(limit).offset(offset)
    return [
        DeadLetterRead(
            id=row.id,
            consumer=row.consumer,
            stream_sequence=row.stream_sequence,
            subject=row.subject,
            event_id=row.event_id,
            reason=row.reason,
            deliveries=row.deliveries,
            created_at=row.created_at,
            payload=row.payload.decode("utf-8", errors="replace"),
            redriven_at=row.redriven_at,
        )
        for row in session.scalars(query)
    ]


def partition(session: Session) -> PartitionRecord | None:
    """Which counties this coordinator's record is built from (None before its first start)."""
    return session.scalars(select(PartitionRecord)).first()
