"""Events held until what they build on has been applied, and what becomes of a hold that
waits too long (it is dead-lettered, with the reason)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from services.coordinator.journal.models import HeldEvent
from shared.events.validation import CheckedEvent
from shared.messaging.consumer import Delivery, dead_letter_of

__all__ = ["Wait", "delivery_of", "expire_holds", "held_too_long", "hold", "ready_for"]


@dataclass(frozen=True)
class Wait:
    """What a held event waits for (``key``) and why, in words for the operator."""

    key: str
    reason: str


def hold(session: Session, checked: CheckedEvent, delivery: Delivery, wait: Wait) -> None:
    """Keep an event that came too early until what it waits for has been applied."""
    envelope = checked.envelope
    session.add(
        HeldEvent(
            event_id=envelope.id,
            waits_for=wait.key,
            reason=wait.reason,
            stream_sequence=delivery.stream_sequence,
            subject=delivery.subject,
            headers=delivery.headers,
            payload=delivery.payload,
            held_at=envelope.time,
        )
    )
    session.info.pop(_NONE_HELD, None)
    session.flush()


def delivery_of(held: HeldEvent) -> Delivery:
    """The held event as the consumer delivered it."""
    return Delivery(held.subject, held.payload, dict(held.headers), held.stream_sequence, 1)


# session.info: the transaction that found no held event and has held none since (a batch of
# events in one transaction then asks once, not once per event)
_NONE_HELD = "sifang.none_held"


def ready_for(session: Session, completed: set[str]) -> list[HeldEvent]:
    """The held events waiting for one of ``completed``, in stream order."""
    transaction = session.get_transaction()
    if transaction is not None and session.info.get(_NONE_HELD) is transaction:
        return []
    if not session.scalar(select(exists().select_from(HeldEvent))):
        session.info[_NONE_HELD] = transaction
        return []
    query = (
        select(HeldEvent)
        .where(HeldEvent.waits_for.in_(sorted(completed)))
        .order_by(HeldEvent.stream_sequence)
    )
    return list(session.scalars(query))


def held_too_long(session: Session, older_than: datetime) -> list[HeldEvent]:
    """Held events whose wait began before ``older_than``, in stream order."""
    query = select(HeldEvent).where(HeldEvent.held_at <= older_than).order_by(HeldEvent.stream_sequence)
    return list(session.scalars(query))


def expire_holds(session: Session, consumer: str, now: datetime, timeout: timedelta) -> None:
    """Dead-letter every hold older than ``timeout`` at ``now``, saying what it waited for."""
    for held in held_too_long(session, now - timeout):
        reason = (
            f"held since {held.held_at.isoformat()} and the gap never filled "
            f"(waited {timeout}): {held.reason}"
        )
        session.add(dead_letter_of(consumer, delivery_of(held), held.event_id, reason))
        session.delete(held)
    session.flush()
