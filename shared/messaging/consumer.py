"""A durable JetStream pull consumer with an inbox, strict stream order and a dead-letter table.

The consumer holds at most one batch at a time (``max_ack_pending`` = ``batch_size``; one
message unless configured otherwise), so the server never hands out a later message while an
earlier one is unsettled: a consumer killed while holding messages gets those same messages
back first, and events are applied in stream order however often they are redelivered. (A
batching consumer that finds messages left unsettled by an earlier run takes them back one at
a time before it fetches batches again, since free room in a batch would otherwise let later
messages overtake them.) For each message: check it against the contract; skip it if the inbox
shows it applied already; otherwise apply it and record it in the inbox in one transaction, and
ack only after that commit.

**Batches.** A fetched batch of new, well-formed events is applied in one transaction (each
event by the handler in stream order, as it would be alone, each with its inbox row) and
committed once; all its messages are acked after that commit. If anything in the batch is not
plain (a malformed event, a duplicate, one at ``max_deliver``) or applying any of it fails, the
whole transaction is rolled back and the batch is processed one message at a time as below, so
a poison event is dead-lettered with its reason and the others still apply. Events of the
``apply_alone`` subjects (the coordinator's clock ticks, which may solve many partitions) get a
transaction of their own: the batch is cut before and after each.

How each kind of failure is settled:

- The message breaks the contract, or the handler rejects it (:class:`EventRejected`): it is
  dead-lettered at once with the reason, and the consumer moves on.
- The consumer's own infrastructure fails (the database refuses connections, a lock times
  out): the message is *not* a suspect. The consumer keeps it (telling the server it is still
  in progress, so no delivery is used up), reports itself paused, and retries until the
  infrastructure is back. Nothing is naked toward ``max_deliver``.
- The handler raises anything else while the database works: the message is retried in
  place a few times (``backoff``), then dead-lettered with the error.
- A message the server has delivered ``max_deliver`` times without it ever being settled
  (the process died while applying it, each time) is dead-lettered without applying it
  again, so the server never drops it silently.
"""

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo
from nats.js.errors import NotFoundError
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from shared.db import append_row, utcnow
from shared.events.envelope import InvalidEvent
from shared.events.validation import CheckedEvent, check_event
from shared.messaging.models import DeadLetter, InboxEntry
from shared.messaging.nats import (
    STREAM_NAME,
    NatsLink,
    ensure_pull_consumer,
    raise_if_cancelled,
    subject_matches,
)
from shared.tracing import applying

__all__ = [
    "BatchReader",
    "ConsumerState",
    "Delivery",
    "DuplicateCheck",
    "EventConsumer",
    "EventHandler",
    "EventRejected",
    "InfrastructureUnavailable",
    "Outcome",
    "is_infrastructure_failure",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Fetcher(Protocol):
    """What the consumer needs of a pull subscription (nats-py's ``PullSubscription``)."""

    async def fetch(self, batch: int = 1, timeout: float | None = 5) -> list[Msg]: ...  # noqa: ASYNC109 (nats-py's signature)

    async def consumer_info(self) -> ConsumerInfo: ...


class EventRejected(Exception):
    """Raised by a handler for an event that is well-formed but must not be applied."""


class InfrastructureUnavailable(Exception):
    """Something the consumer needs (its database) is down; the event is not at fault."""


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


@dataclass
class ConsumerState:
    """What the consumer is doing, for ``/healthz`` and ``sifang doctor``."""

    running: bool = False
    paused_since: datetime | None = None
    paused_reason: str = ""
    last_applied_sequence: int | None = None
    extra: dict[str, str] = field(default_factory=dict)
    settled: int = 0  # messages acknowledged: applied, skipped as duplicates or dead-lettered
    redelivered: int = 0  # of those, messages the server had delivered before
    pending: int | None = None  # messages in the stream after the last one fetched (the lag)

    def count(self, messages: Sequence[Msg]) -> None:
        """Note messages settled, for the metrics."""
        self.settled += len(messages)
        self.redelivered += sum(1 for message in messages if message.metadata.num_delivered > 1)
        self.pending = messages[-1].metadata.num_pending

    def as_dict(self) -> dict[str, object]:
        state = "running" if self.running else "not started"
        if self.paused_since is not None:
            state = "paused"
        return {
            "state": state,
            "paused_since": self.paused_since.isoformat() if self.paused_since else None,
            "reason": self.paused_reason or None,
            "last_applied_sequence": self.last_applied_sequence,
        }


EventHandler = Callable[[Session, CheckedEvent, Delivery], None]
# Given an event whose id was applied already: why this copy is not the same event, or None.
DuplicateCheck = Callable[[Session, CheckedEvent], str | None]
# reads ahead, in the batch's transaction, what its events will look up (see ``process_batch``)
BatchReader = Callable[[Session, Sequence[CheckedEvent]], None]


def is_infrastructure_failure(exc: BaseException) -> bool:
    """A failure of the database or the network rather than of the event being applied."""
    if isinstance(exc, InfrastructureUnavailable | PoolTimeout | OSError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError) and not isinstance(exc, IntegrityError):
        # OperationalError (connection refused, database locked) and InterfaceError, and any
        # error after which the driver dropped the connection.
        return isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated
    return False


class EventConsumer:
    """Applies the events of one durable consumer to one database, in stream order."""

    def __init__(
        self,
        *,
        name: str,
        filter_subjects: Sequence[str],
        session_factory: sessionmaker[Session],
        handler: EventHandler,
        max_deliver: int = 10,
        backoff: Sequence[float] = (0.5, 2.0, 5.0),
        ack_wait: float = 10.0,
        infrastructure_retry: float = 2.0,
        after_commit: Callable[[], None] | None = None,
        check_duplicate: DuplicateCheck | None = None,
        batch_size: int = 1,
        apply_alone: Sequence[str] = (),
        read_ahead: BatchReader | None = None,
    ) -> None:
        self.name = name
        self.filter_subjects = list(filter_subjects)
        self._session_factory = session_factory
        self._handler = handler
        self.max_deliver = max_deliver
        self.backoff = list(backoff)
        self.ack_wait = ack_wait
        self.infrastructure_retry = infrastructure_retry
        self._after_commit = after_commit
        self._check_duplicate = check_duplicate
        self.batch_size = max(1, batch_size)
        # subjects (patterns) whose events get a transaction of their own: a batch is cut before
        # and after each, so their (slow) work never holds back the commit of cheaper events
        self.apply_alone = list(apply_alone)
        self._read_ahead = read_ahead  # reads what a batch's events will look up, before them
        self.state = ConsumerState()
        self._runs = 0  # bumped when a run is cancelled: a batch still being applied then gives up

    async def run(self, link: NatsLink) -> None:
        """Consume until cancelled, re-binding after connection trouble."""
        while True:
            try:
                js = await link.jetstream()
                # Messages an earlier run left unsettled come back one at a time, before any later
                # one: in a batch, later messages could take the room they left free.
                size = 1 if self.batch_size > 1 and await self._unsettled(js) else self.batch_size
                subscription = await self._bind(js, size)
                self.state.running = True
                await self.consume(subscription, size, settle_first=js if size < self.batch_size else None)
                await subscription.unsubscribe()  # all settled again: bind anew for whole batches
            except asyncio.CancelledError:
                self.state.running = False
                self._runs += 1
                raise
            except Exception as exc:
                log.warning("consumer %s: %s; resuming shortly", self.name, exc)
                await asyncio.sleep(1.0)

    async def consume(
        self, subscription: Fetcher, size: int = 1, *, settle_first: JetStreamContext | None = None
    ) -> None:
        """Fetch and handle up to ``size`` messages at a time, until cancelled. With
        ``settle_first``, return as soon as that server holds no unsettled message of this
        consumer any more (the caller then binds again for whole batches)."""
        while True:
            raise_if_cancelled()
            messages = await self._fetch(subscription, size)
            if messages:
                await self.handle_batch(messages)
            if settle_first is not None and not await self._unsettled(settle_first):
                return

    @staticmethod
    async def _fetch(subscription: Fetcher, size: int) -> list[Msg]:
        """Up to ``size`` messages: waits (a second at most) for the first, then takes only those
        already waiting. (nats-py's ``fetch(n)`` waits out its whole timeout for the n-th
        message when fewer are there, which would hold a lone event back for a second.)"""
        try:
            messages = await subscription.fetch(1, timeout=1.0)
        except TimeoutError:
            return []
        if size > 1 and (waiting := (await subscription.consumer_info()).num_pending):
            with contextlib.suppress(TimeoutError):
                messages += await subscription.fetch(min(waiting, size - 1), timeout=1.0)
        return messages

    async def _bind(self, js: JetStreamContext, size: int) -> JetStreamContext.PullSubscription:
        return await ensure_pull_consumer(
            js,
            durable=self.name,
            filter_subjects=self.filter_subjects,
            max_deliver=self.max_deliver,
            ack_wait=self.ack_wait,
            max_ack_pending=size,
        )

    async def _unsettled(self, js: JetStreamContext) -> bool:
        """Whether the server holds messages of this consumer delivered but not yet acked."""
        try:
            info = await js.consumer_info(STREAM_NAME, self.name)
        except NotFoundError:
            return False
        return bool(info.num_ack_pending)

    async def handle_batch(self, messages: Sequence[Msg]) -> list[Outcome]:
        """Apply a fetched batch, cut before and after each event to be applied alone, each part
        in one transaction and acked after its commit; a part that cannot be applied so (see
        the module docstring) is processed one message at a time instead."""
        outcomes: list[Outcome] = []
        start = 0
        for end in self._cuts(messages):
            outcomes += await self._handle_part(messages[start:end], later=messages[end:])
            start = end
        return outcomes

    def _cuts(self, messages: Sequence[Msg]) -> list[int]:
        """Where the batch's parts end: around every message to be applied alone, and at its end."""
        cuts = {len(messages)}
        for k, message in enumerate(messages):
            if any(subject_matches(pattern, message.subject) for pattern in self.apply_alone):
                cuts |= {k, k + 1}
        return sorted(cuts - {0})

    async def _handle_part(self, part: Sequence[Msg], *, later: Sequence[Msg]) -> list[Outcome]:
        if len(part) == 1:
            return [await self.handle(part[0], waiting=later)]
        deliveries = [_delivery_of(message) for message in part]
        work = asyncio.ensure_future(asyncio.to_thread(self.process_batch, deliveries))
        outcomes = await self._keep_alive_until_done([*part, *later], work)
        if outcomes is None:
            return [await self.handle(m, waiting=[*part[k + 1 :], *later]) for k, m in enumerate(part)]
        for message in part:
            await message.ack()
        self.state.last_applied_sequence = deliveries[-1].stream_sequence
        self.state.count(part)
        return outcomes

    async def handle(self, message: Msg, *, waiting: Sequence[Msg] = ()) -> Outcome:
        """Process one message and settle it with the server; never gives it back unsettled.

        ``waiting`` are later messages of the same batch, kept in progress meanwhile."""
        delivery = _delivery_of(message)
        held = [message, *waiting]
        attempt = 0
        while True:
            work = asyncio.ensure_future(asyncio.to_thread(self.process, delivery, attempt=attempt))
            outcome = await self._keep_alive_until_done(held, work)
            if outcome is not Outcome.RETRY:
                break
            if self.state.paused_since is not None:
                await self._keep_alive_for(held, self.infrastructure_retry)
            else:
                await self._keep_alive_for(held, self._delay(attempt))
                attempt += 1
        await message.ack()
        self.state.last_applied_sequence = delivery.stream_sequence
        self.state.count([message])
        return outcome

    async def _keep_alive_until_done(self, messages: Sequence[Msg], work: "asyncio.Future[T]") -> T:
        """Wait for ``work``, telling the server now and then that the messages are in hand."""
        interval = max(self.ack_wait / 3, 0.1)
        while True:
            done, _ = await asyncio.wait({work}, timeout=interval)
            if done:
                return work.result()
            for message in messages:
                await _in_progress(message)

    async def _keep_alive_for(self, messages: Sequence[Msg], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        interval = max(self.ack_wait / 3, 0.1)
        while (left := deadline - time.monotonic()) > 0:
            for message in messages:
                await _in_progress(message)
            await asyncio.sleep(min(interval, left))

    def _delay(self, attempt: int) -> float:
        if not self.backoff:
            return 0.5
        return self.backoff[min(attempt, len(self.backoff) - 1)]

    def process_batch(self, deliveries: Sequence[Delivery]) -> list[Outcome] | None:
        """Apply a batch of new, well-formed events in one transaction (blocking); None, with
        nothing changed, when the batch must be processed one message at a time instead."""
        checked: list[CheckedEvent] = []
        for delivery in deliveries:
            if delivery.deliveries >= self.max_deliver:
                return None
            try:
                checked.append(check_event(delivery.subject, delivery.payload))
            except InvalidEvent:
                return None
        ids = [c.envelope.id for c in checked]
        if len(set(ids)) < len(ids):
            return None
        run = self._runs
        try:
            with self._session_factory() as session:
                seen = session.scalars(
                    select(InboxEntry.event_id).where(
                        InboxEntry.consumer == self.name, InboxEntry.event_id.in_(ids)
                    )
                ).first()
                if seen is not None:
                    return None
                if self._read_ahead is not None:
                    self._read_ahead(session, checked)
                for event, delivery in zip(checked, deliveries, strict=True):
                    if self._runs != run:  # stopped meanwhile: nothing will be acked, keep nothing
                        raise asyncio.CancelledError("the consumer stopped")
                    with applying(self.name, event.envelope):
                        self._handler(session, event, delivery)
                    self._record_applied(session, event.envelope.id, delivery)
                session.commit()
        except asyncio.CancelledError:
            return None
        except Exception as exc:  # rolled back: each message is settled on its own instead
            log.info(
                "consumer %s: batch of %s from seq %s applied one by one: %s: %s",
                self.name,
                len(deliveries),
                deliveries[0].stream_sequence,
                type(exc).__name__,
                exc,
            )
            return None
        if self._after_commit is not None:
            self._after_commit()
        for event, delivery in zip(checked, deliveries, strict=True):
            extra = {"event_id": event.envelope.id, "correlation_id": event.envelope.correlationid}
            log.info("applied %s (seq %s)", event.envelope.type, delivery.stream_sequence, extra=extra)
        return [self._resumed(Outcome.APPLIED) for _ in deliveries]

    def process(self, delivery: Delivery, *, attempt: int = 0, keep_dead_letters: bool = True) -> Outcome:
        """Check and apply one delivery in its own transaction (blocking).

        Returns RETRY for a failure worth another try in place (``attempt`` counts them);
        ``keep_dead_letters=False`` (re-driving a dead letter) reports a failure without writing
        another dead letter for it.
        """
        try:
            checked = check_event(delivery.subject, delivery.payload)
        except InvalidEvent as exc:
            return self._settle_dead(delivery, exc.event_id, str(exc), keep_dead_letters)
        envelope = checked.envelope
        extra = {"event_id": envelope.id, "correlation_id": envelope.correlationid}
        try:
            with self._session_factory() as session:
                seen = session.scalar(
                    select(InboxEntry.event_id).where(
                        InboxEntry.consumer == self.name, InboxEntry.event_id == envelope.id
                    )
                )
                if seen is not None:
                    conflict = self._check_duplicate and self._check_duplicate(session, checked)
                    if conflict:
                        return self._settle_dead(delivery, envelope.id, conflict, keep_dead_letters)
                    log.info("duplicate %s skipped", envelope.type, extra=extra)
                    return self._resumed(Outcome.DUPLICATE)
                if delivery.deliveries >= self.max_deliver and keep_dead_letters:
                    reason = (
                        f"delivered {delivery.deliveries} times without being settled: "
                        "the consumer stopped while applying it each time"
                    )
                    return self._settle_dead(delivery, envelope.id, reason, keep_dead_letters)
                try:
                    with applying(self.name, envelope):
                        self._handler(session, checked, delivery)
                    self._record_applied(session, envelope.id, delivery)
                    session.commit()
                except EventRejected as exc:
                    session.rollback()
                    log.warning("%s rejected: %s", envelope.type, exc, extra=extra)
                    return self._settle_dead(delivery, envelope.id, f"rejected: {exc}", keep_dead_letters)
                except IntegrityError as exc:
                    session.rollback()
                    if self._applied_already(envelope.id):  # a concurrent delivery won the race
                        return self._resumed(Outcome.DUPLICATE)
                    return self._failed(delivery, envelope.id, exc, attempt, keep_dead_letters)
        except Exception as exc:
            if is_infrastructure_failure(exc) or not self._database_answers():
                return self._paused(delivery, exc)
            self._resumed(Outcome.RETRY)
            return self._failed(delivery, envelope.id, exc, attempt, keep_dead_letters)
        if self._after_commit is not None:
            self._after_commit()  # e.g. wake the outbox relay for events the handler wrote
        log.info("applied %s (seq %s)", envelope.type, delivery.stream_sequence, extra=extra)
        return self._resumed(Outcome.APPLIED)

    def _record_applied(self, session: Session, event_id: str, delivery: Delivery) -> None:
        """The row saying this consumer applied ``event_id``: written with its effects, at the
        commit (nothing reads it back in the transaction)."""
        values = {"consumer": self.name, "event_id": event_id, "stream_sequence": delivery.stream_sequence}
        append_row(session, InboxEntry, **values)

    def _resumed(self, outcome: Outcome) -> Outcome:
        if self.state.paused_since is not None:
            log.warning("consumer %s: resumed after %s", self.name, self.state.paused_reason)
            self.state.paused_since, self.state.paused_reason = None, ""
        return outcome

    def _paused(self, delivery: Delivery, exc: BaseException) -> Outcome:
        reason = f"database unavailable: {type(exc).__name__}: {exc}"[:300]
        self.state.paused_reason = reason  # first: whoever sees the pause (healthz) sees why
        if self.state.paused_since is None:
            self.state.paused_since = utcnow()
            log.error(
                "consumer %s: paused at seq %s, taking no more work until it is back: %s",
                self.name,
                delivery.stream_sequence,
                reason,
            )
        return Outcome.RETRY

    def _database_answers(self) -> bool:
        try:
            with self._session_factory() as session:
                session.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def _applied_already(self, event_id: str) -> bool:
        with self._session_factory() as session:
            return session.get(InboxEntry, (self.name, event_id)) is not None

    def _failed(self, delivery: Delivery, event_id: str, exc: Exception, attempt: int, keep: bool) -> Outcome:
        tries = attempt + 1
        if tries <= len(self.backoff):
            log.warning(
                "seq %s failed on try %s: %s",
                delivery.stream_sequence,
                tries,
                exc,
                extra={"event_id": event_id},
            )
            return Outcome.RETRY
        reason = f"gave up after {tries} tries: {type(exc).__name__}: {exc}"
        return self._settle_dead(delivery, event_id, reason, keep)

    def _settle_dead(self, delivery: Delivery, event_id: str | None, reason: str, keep: bool) -> Outcome:
        try:
            return self._resumed(self._dead_letter(delivery, event_id, reason, keep))
        except Exception as exc:  # the dead-letter table itself is out of reach
            return self._paused(delivery, exc)

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
            session.add(dead_letter_of(self.name, delivery, event_id, reason))
            session.commit()
        return Outcome.DEAD_LETTERED


def dead_letter_of(consumer: str, delivery: Delivery, event_id: str | None, reason: str) -> DeadLetter:
    """The dead-letter row for one delivery (not yet added to a session)."""
    return DeadLetter(
        consumer=consumer,
        stream_sequence=delivery.stream_sequence,
        subject=delivery.subject,
        event_id=event_id,
        headers=delivery.headers,
        payload=delivery.payload,
        reason=reason[:4000],
        deliveries=delivery.deliveries,
    )


def _delivery_of(message: Msg) -> Delivery:
    metadata = message.metadata
    return Delivery(
        subject=message.subject,
        payload=message.data,
        headers=dict(message.headers or {}),
        stream_sequence=metadata.sequence.stream,
        deliveries=metadata.num_delivered,
    )


async def _in_progress(message: Msg) -> None:
    try:
        await message.in_progress()
    except Exception as exc:  # the connection is down: the server will redeliver in order anyway
        log.debug("in-progress ack not sent: %s", exc)
