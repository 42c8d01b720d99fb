"""The coordinator's event log: every event it accepted or emitted, numbered in the order
they took effect. Integrators follow it (SSE, webhooks) by ``position``."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.coordinator.journal.models import EventLogEntry
from shared.db import utcnow
from shared.events.envelope import CloudEvent
from shared.messaging.outbox import record_event

__all__ = ["emit", "log_event"]


def log_event(session: Session, event: CloudEvent, subject: str, stream_sequence: int | None) -> None:
    """Add ``event`` to the log at the next position, in the session's transaction.

    The position is the last one plus one; two writers racing for it collide on its unique
    key and the loser's transaction is retried, so positions become visible in order, gapless.
    """
    last = session.scalar(select(func.max(EventLogEntry.position)))
    session.add(
        EventLogEntry(
            event_id=event.id,
            position=(last or 0) + 1,
            stream_sequence=stream_sequence,
            nats_subject=subject,
            type=event.type,
            source=event.source,
            kind=event.source_kind,
            organisation_id=event.source_org,
            entity_id=event.subject,
            region=event.region,
            time=event.time,
            correlation_id=event.correlationid,
            causation_id=event.causationid,
            data=event.data,
            received_at=utcnow(),
        )
    )
    session.flush()


def emit(session: Session, subject: str, event: CloudEvent) -> None:
    """Publish an event the coordinator decided: to the outbox for NATS and to the log."""
    record_event(session, subject, event)
    log_event(session, event, subject, None)
