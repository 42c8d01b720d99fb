"""The coordinator's event log, and the one way the coordinator publishes an event.

The log holds every event the coordinator accepted or emitted, numbered in the order they took
effect; integrators follow it (SSE, webhooks) by ``position``.

**Causes.** Everything the coordinator decides is caused by an event it applies (a party's event,
a clock tick, a coordinator's instruction). While one is applied (``begin_cause`` …
``end_cause``), the ids of what it makes (``new_id``) and of what it publishes (``publish``)
derive from that event, so a replay of the stream makes the same ids.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.coordinator.journal.models import EventLogEntry, PartitionRecord
from shared.db import append_row, utcnow
from shared.events.catalogue import CATALOGUE
from shared.events.envelope import CloudEvent, derived_event_id, new_event_id
from shared.messaging.outbox import record_event

__all__ = [
    "COORDINATOR_ORGANISATION",
    "Cause",
    "PartitionMismatch",
    "begin_cause",
    "claim_partition",
    "current_cause",
    "emit",
    "end_cause",
    "log_event",
    "new_id",
    "publish",
]

COORDINATOR_ORGANISATION = "coordinator"  # the organisation id in the source of its own events
_CAUSE = "sifang.cause"  # session.info key: the cause of what is being decided


@dataclass
class Cause:
    """The event that set a change off: its id, correlation and the instant it records."""

    event_id: str
    correlation_id: str
    time: datetime
    made: int = field(default=0, compare=False)  # entities made so far (see ``new_id``)
    notices: int = field(default=0, compare=False)  # offer.shared notices sent so far under it


def begin_cause(session: Session, cause: Cause) -> None:
    """Everything made or published in ``session`` from now on derives from ``cause``."""
    session.info[_CAUSE] = cause


def end_cause(session: Session) -> None:
    session.info.pop(_CAUSE, None)


# session.info: (innermost transaction, last position written in it); a savepoint rolled back
# takes its rows with it, and the next one reads the last position again
_LOG_POSITION = "sifang.log_position"


def current_cause(session: Session) -> Cause | None:
    cause = session.info.get(_CAUSE)
    return cause if isinstance(cause, Cause) else None


def new_id(session: Session) -> str:
    """A new entity id: derived from the cause being applied, or fresh outside one."""
    cause = current_cause(session)
    if cause is None:
        return new_event_id()
    cause.made += 1
    return derived_event_id(cause.time, cause.event_id, "made", str(cause.made))


def log_event(session: Session, event: CloudEvent, subject: str, stream_sequence: int | None) -> None:
    """Add ``event`` to the log at the next position, in the session's transaction.

    The position is the last one plus one; two writers racing for it collide on its unique
    key and the loser's transaction is retried, so positions become visible in order, gapless.
    Within one transaction the last position is read once and counted on from there, and the
    rows are written together just before it commits (``append_row``).
    """
    transaction = session.get_nested_transaction() or session.get_transaction()
    known = session.info.get(_LOG_POSITION)
    if transaction is not None and known is not None and known[0] is transaction:
        last = known[1]
    else:
        last = session.scalar(select(func.max(EventLogEntry.position))) or 0
        transaction = session.get_nested_transaction() or session.get_transaction()  # begun now
    session.info[_LOG_POSITION] = (transaction, last + 1)
    append_row(  # nothing reads the log back in the transaction that writes it
        session,
        EventLogEntry,
        event_id=event.id,
        position=last + 1,
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


def emit(session: Session, subject: str, event: CloudEvent) -> None:
    """Publish an event the coordinator decided: to the outbox for NATS and to the log."""
    record_event(session, subject, event)
    log_event(session, event, subject, None)


def publish(
    session: Session,
    event_type: str,
    data: BaseModel,
    region: str,
    *,
    cause: Cause | None = None,
    id_parts: Sequence[str] | None = None,
    correlated: bool = True,
    event_id: str | None = None,
    at: datetime | None = None,
    logged: bool = True,
) -> CloudEvent:
    """Publish a coordinator event of ``event_type`` (e.g. ``sifang.match.proposed.v1``).

    Its id, time and causation derive from ``cause`` (default: the cause being applied), with
    ``id_parts`` naming it among that cause's effects (default: entity, verb and entity id);
    ``correlated`` carries the cause's correlation on. Without a cause, ``event_id`` and ``at``
    (default: fresh, now) are its own. ``logged=False`` is for the clock's ticks and the
    coordinators' instructions, which are logged when they come back from the stream.
    """
    kind = CATALOGUE[event_type]
    cause = cause or current_cause(session)
    correlation_id: str | None = None
    causation_id: str | None = None
    if cause is not None:
        parts = id_parts or (kind.entity, kind.verb, str(getattr(data, kind.id_field)))
        event_id = derived_event_id(cause.time, cause.event_id, *parts)
        at, causation_id = cause.time, cause.event_id
        correlation_id = cause.correlation_id if correlated else None
    subject, event = kind.build(
        kind="coordinator",
        organisation_id=COORDINATOR_ORGANISATION,
        region=region,
        data=data,
        correlation_id=correlation_id,
        causation_id=causation_id,
        event_id=event_id,
        time=at,
    )
    if logged:
        emit(session, subject, event)
    else:
        record_event(session, subject, event)
    return event


class PartitionMismatch(Exception):
    """The database holds the record of another part of the stream than the one configured."""


def claim_partition(session: Session, consumer: str, regions: Sequence[str]) -> None:
    """Record which part of the stream this database is built from, or check it is this one.

    A database built for some counties must not simply start consuming others: their history
    before the consumer's position would be missing. Moving a county is ``sifang partition move``.
    """
    recorded = session.scalars(select(PartitionRecord)).all()
    if not recorded:
        session.add(PartitionRecord(consumer=consumer, regions=sorted(regions)))
        return
    row = recorded[0]
    if row.moving:
        raise PartitionMismatch(
            f"a move of county {row.moving.get('county')} from {row.moving.get('source')} to "
            f"{row.moving.get('target')} is not finished: run `sifang partition move` again (with "
            "--resume if its source has dropped the county) before starting this coordinator"
        )
    if row.consumer != consumer or sorted(row.regions) != sorted(regions):
        raise PartitionMismatch(
            f"this database holds the record of consumer {row.consumer!r} for counties "
            f"{', '.join(row.regions) or 'all'}, but the coordinator is configured as {consumer!r} for "
            f"{', '.join(sorted(regions)) or 'all'}: set COORDINATOR_PARTITION and COORDINATOR_REGIONS "
            "as recorded, or move counties with `sifang partition move`"
        )
