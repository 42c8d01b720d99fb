"""A durable JetStream pull consumer with an inbox, bounded redelivery and a dead-letter table.

For each message, in stream order: check it against the contract; skip it if the inbox shows
it applied already; otherwise apply it and record it in the inbox in one transaction, and ack
only after that commit. A message that breaks the contract, or that the handler rejects, is
dead-lettered at once with the reason; one whose handler keeps failing is retried with backoff
and dead-lettered when its deliveries run out. Either way the consumer moves on.
"""

import asyncio
import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nats.aio.msg import Msg
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shared.events.envelope import InvalidEvent
from shared.events.validation import CheckedEvent, check_event
from shared.messaging.models import DeadLetter, InboxEntry
from shared.messaging.nats import NatsLink, ensure_pull_consumer

__all__ = ["Delivery", "EventConsumer", "EventHandler", "EventRejected", "Outcome"]

log = logging.getLogger(__name__)


class EventRejected(Exception):
    """Raised by a handler for an event that is well-formed but must not be applied."""


class Outcome(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead-lettered"
    RETRY = "retry"


@dataclass(frozen=True)
class Delivery:
    """One message as it came off the stream."""

    subject: str
    payload: bytes
    headers: dict[str, str]
    stream_sequence: int
    deliveries: int


EventHandler = Callable[[Session, CheckedEvent, Delivery], None]


class EventConsumer:
    """Applies the events of one durable consumer to one database."""

    def __init__(
        self,
        *,
        name: str,
        filter_subjects: Sequence[str],
        session_factory: sessionmaker[Session],
        handler: EventHandler,
        max_deliver: int = 5,
        backoff: Sequence[float] = (1.0, 5.0, 15.0, 30.0),
        ack_wait: float = 30.0,
        batch_size: int = 50,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.filter_subjects = list(filter_subjects)
        self._session_factory = session_factory
        self._handler = handler
        self.max_deliver = max_deliver
        self.backoff = list(backoff)
        self.ack_wait = ack_wait
        self._after_commit = after_commit
        self._batch_size = batch_size

    async def run(self, link: NatsLink) -> None:
        """Consume until cancelled, re-binding after connection trouble."""
        while True:
            try:
                js = await link.jetstream()
                subscription = await ensure_pull_consumer(
                    js,
                    durable=self.name,
                    filter_subjects=self.filter_subjects,
                    max_deliver=self.max_deliver,
                    ack_wait=self.ack_wait,
                )
                while True:
                    try:
                        messages = await subscription.fetch(self._batch_size, timeout=1.0)
                    except TimeoutError:
                        continue
                    for message in messages:
                        await self.handle(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer %s: %s; resuming shortly", self.name, exc)
                await asyncio.sleep(1.0)

    async def handle(self, message: Msg) -> Outcome:
        """Process one message and settle it with the server."""
        metadata = message.metadata
        delivery = Delivery(
            subject=message.subject,
            payload=message.data,
            headers=dict(message.headers or {}),
            stream_sequence=metadata.sequence.stream,
            deliveries=metadata.num_delivered,
        )
        try:
            outcome = await asyncio.to_thread(self.process, delivery)
        except Exception as exc:  # the database itself is failing: try again later
            log.warning("consumer %s: seq %s not processed (%s)", self.name, delivery.stream_sequence, exc)
            outcome = Outcome.RETRY
        if outcome is Outcome.RETRY:
            await message.nak(delay=self._delay(delivery.deliveries))
        else:
            await message.ack()
        return outcome

    def _delay(self, deliveries: int) -> float:
        if not self.backoff:
            return 1.0
        return self.backoff[min(deliveries, len(self.backoff)) - 1]

    def process(self, delivery: Delivery, *, keep_dead_letters: bool = True) -> Outcome:
        """Check and apply one delivery in its own transaction (blocking).

        ``keep_dead_letters=False`` (re-driving a dead letter) reports a failure without
        writing another dead letter for it.
        """
        try:
            checked = check_event(delivery.subject, delivery.payload)
        except InvalidEvent as exc:
            return self._dead_letter(delivery, exc.event_id, str(exc), keep_dead_letters)
        envelope = checked.envelope
        extra = {"event_id": envelope.id, "correlation_id": envelope.correlationid}
        with self._session_factory() as session:
            seen = session.scalar(
                select(InboxEntry.event_id).where(
                    InboxEntry.consumer == self.name, InboxEntry.event_id == envelope.id
                )
            )
            if seen is not None:
                log.info("duplicate %s skipped", envelope.type, extra=extra)
                return Outcome.DUPLICATE
            try:
                self._handler(session, checked, delivery)
                session.add(
                    InboxEntry(
                        consumer=self.name,
                        event_id=envelope.id,
                        stream_sequence=delivery.stream_sequence,
                    )
                )
                session.commit()
                if self._after_commit is not None:
                    self._after_commit()  # e.g. wake the outbox relay for events the handler wrote
            except EventRejected as exc:
                session.rollback()
                log.warning("%s rejected: %s", envelope.type, exc, extra=extra)
                return self._dead_letter(delivery, envelope.id, f"rejected: {exc}", keep_dead_letters)
            except IntegrityError as exc:
                session.rollback()
                if self._applied_already(envelope.id):  # a concurrent delivery won the race
                    return Outcome.DUPLICATE
                return self._failed(delivery, envelope.id, exc, keep_dead_letters)
            except Exception as exc:
                session.rollback()
                return self._failed(delivery, envelope.id, exc, keep_dead_letters)
        log.info("applied %s (seq %s)", envelope.type, delivery.stream_sequence, extra=extra)
        return Outcome.APPLIED

    def _applied_already(self, event_id: str) -> bool:
        with self._session_factory() as session:
            return session.get(InboxEntry, (self.name, event_id)) is not None

    def _failed(self, delivery: Delivery, event_id: str, exc: Exception, keep: bool) -> Outcome:
        if delivery.deliveries < self.max_deliver:
            log.warning(
                "seq %s failed on delivery %s: %s",
                delivery.stream_sequence,
                delivery.deliveries,
                exc,
                extra={"event_id": event_id},
            )
            return Outcome.RETRY
        reason = f"gave up after {delivery.deliveries} deliveries: {type(exc).__name__}: {exc}"
        return self._dead_letter(delivery, event_id, reason, keep)

    def _dead_letter(self, delivery: Delivery, event_id: str | None, reason: str, keep: bool) -> Outcome:
        if not keep:
            log.warning("still failing: %s", reason, extra={"event_id": event_id})
            return Outcome.DEAD_LETTERED
        log.error(
            "dead-lettering seq %s on %s: %s",
            delivery.stream_sequence,
            delivery.subject,
            reason,
            extra={"event_id": event_id},
        )
        with self._session_factory() as session:
            session.add(
                DeadLetter(
                    consumer=self.name,
                    stream_sequence=delivery.stream_sequence,
                    subject=delivery.subject,
                    event_id=event_id,
                    headers=delivery.headers,
                    payload=delivery.payload,
                    reason=reason[:4000],
                    deliveries=delivery.deliveries,
                )
            )
            session.commit()
        return Outcome.DEAD_LETTERED
