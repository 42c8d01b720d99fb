"""The transactional outbox: events are written with the change they report and relayed to NATS.

``record_event`` adds an event to the caller's transaction. The :class:`OutboxRelay` publishes
committed events in order with ``Nats-Msg-Id`` set to the event id, so a relay that crashes
between publishing and marking re-publishes into JetStream's duplicate window and nothing is
doubled; consumers' inboxes catch anything older.
"""

import asyncio
import contextlib
import logging
import time
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session, sessionmaker

from shared.db import utcnow
from shared.events.envelope import CONTENT_TYPE, CloudEvent
from shared.messaging.models import OutboxMessage
from shared.messaging.nats import STREAM_NAME, NatsLink, raise_if_cancelled

__all__ = ["OutboxRelay", "record_event"]

log = logging.getLogger(__name__)

_OUTBOX = cast(Table, OutboxMessage.__table__)  # Core statements: no ORM bookkeeping per batch


def record_event(session: Session, subject: str, event: CloudEvent) -> None:
    """Add ``event`` to the outbox in the session's transaction."""
    session.add(
        OutboxMessage(
            event_id=event.id,
            event_type=event.type,
            subject=subject,
            payload=event.to_json().decode(),
        )
    )


class OutboxRelay:
    """Publishes committed outbox rows to JetStream, oldest first, until stopped.

    While it runs, rows are marked published in bulk, ``mark_interval`` seconds (or ``batch_size``
    rows) after their publication, not one UPDATE per batch: under load every UPDATE is a write
    transaction competing with the requests. A relay that dies before marking publishes those
    rows again, which JetStream's duplicate window absorbs. When busy it waits ``linger`` seconds
    between batches, so that one read of the outbox picks up several commits.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        link: NatsLink,
        *,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        mark_interval: float = 0.5,
        linger: float = 0.005,
    ) -> None:
        self._session_factory = session_factory
        self._link = link
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._mark_interval = mark_interval
        self._linger = linger
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unmarked: list[int] = []  # published, not yet marked so in the database
        self._unmarked_since = 0.0

    def wake(self) -> None:
        """Tell the relay there is something new; safe to call from any thread.

        The relay clears the flag before it reads the outbox, so a flag found set means that
        read is still to come and will see what the caller committed: no need to set it again.
        """
        loop = self._loop
        if loop is not None and not loop.is_closed() and not self._wake.is_set():
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            while True:
                raise_if_cancelled()
                # Cleared before reading the outbox, never after: a commit that lands while a
                # batch is being published sets the flag again, and the wait below returns at once.
                self._wake.clear()
                try:
                    published = await self._publish_batch()
                    await self._mark(force=False)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("outbox relay: publishing failed (%s); will retry", exc)
                    published = 0
                    await asyncio.sleep(self._poll_interval)
                if published >= self._batch_size:
                    continue
                if published:
                    # Busy: let a few more commits gather rather than read the outbox per event.
                    await asyncio.sleep(self._linger)
                timeout = self._mark_interval if self._unmarked else self._poll_interval
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=timeout)
        finally:
            self._loop = None
            if self._unmarked:  # stopping: mark what was published rather than publish it again
                ids, self._unmarked = self._unmarked, []
                try:
                    self._mark_published(ids)
                except Exception as exc:
                    log.warning("outbox relay: %d published rows left unmarked (%s)", len(ids), exc)

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished events and mark them; returns how many were published."""
        published = await self._publish_batch()
        await self._mark(force=True)
        return published

    async def _publish_batch(self) -> int:
        rows = await asyncio.to_thread(self._pending)
        if not rows:
            return 0
        js = await self._link.jetstream()
        done = 0
        try:
            for row_id, event_id, subject, payload in rows:
                await js.publish(
                    subject,
                    payload.encode(),
                    stream=STREAM_NAME,
                    headers={"Nats-Msg-Id": event_id, "Content-Type": CONTENT_TYPE},
                )
                if not self._unmarked:
                    self._unmarked_since = time.monotonic()
                self._unmarked.append(row_id)
                done += 1
                log.debug("published %s to %s", event_id, subject)
        finally:
            if done < len(rows):
                await self._mark(force=True)
        return done

    async def _mark(self, *, force: bool) -> None:
        """Mark the published rows, if there are enough of them or they have waited long enough."""
        if not self._unmarked:
            return
        due = time.monotonic() - self._unmarked_since >= self._mark_interval
        if force or due or len(self._unmarked) >= self._batch_size:
            ids, self._unmarked = self._unmarked, []
            try:
                await asyncio.to_thread(self._mark_published, ids)
            except BaseException:
                self._unmarked = ids + self._unmarked
                raise

    def _pending(self) -> list[tuple[int, str, str, str]]:
        skip = set(self._unmarked)
        query = (
            select(_OUTBOX.c.id, _OUTBOX.c.event_id, _OUTBOX.c.subject, _OUTBOX.c.payload)
            .where(_OUTBOX.c.published_at.is_(None))
            .order_by(_OUTBOX.c.id)
            .limit(self._batch_size + len(skip))
        )
        with self._session_factory() as session:
            rows = session.execute(query).all()
        return [(r[0], r[1], r[2], r[3]) for r in rows if r[0] not in skip][: self._batch_size]

    def _mark_published(self, ids: list[int]) -> None:
        with self._session_factory() as session:
            session.execute(update(_OUTBOX).where(_OUTBOX.c.id.in_(ids)).values(published_at=utcnow()))
            session.commit()
