"""The transactional outbox: events are written with the change they report and relayed to NATS.

``record_event`` adds an event to the caller's transaction. The :class:`OutboxRelay` publishes
committed events in order with ``Nats-Msg-Id`` set to the event id, so a relay that crashes
between publishing and marking re-publishes into JetStream's duplicate window and nothing is
doubled; consumers' inboxes catch anything older.
"""

import asyncio
import contextlib
import logging

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from shared.db import utcnow
from shared.events.envelope import CONTENT_TYPE, CloudEvent
from shared.messaging.models import OutboxMessage
from shared.messaging.nats import STREAM_NAME, NatsLink

__all__ = ["OutboxRelay", "record_event"]

log = logging.getLogger(__name__)


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
    """Publishes committed outbox rows to JetStream, oldest first, until stopped."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        link: NatsLink,
        *,
        batch_size: int = 200,
        poll_interval: float = 1.0,
    ) -> None:
        self._session_factory = session_factory
        self._link = link
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Tell the relay there is something new; safe to call from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while True:
            try:
                published = await self.publish_pending()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay: publishing failed (%s); will retry", exc)
                published = 0
                await asyncio.sleep(self._poll_interval)
            if published < self._batch_size:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished events; returns how many were published."""
        rows = await asyncio.to_thread(self._pending)
        if not rows:
            return 0
        js = await self._link.jetstream()
        done: list[int] = []
        try:
            for row_id, event_id, subject, payload in rows:
                await js.publish(
                    subject,
                    payload.encode(),
                    stream=STREAM_NAME,
                    headers={"Nats-Msg-Id": event_id, "Content-Type": CONTENT_TYPE},
                )
                done.append(row_id)
                log.debug("published %s to %s", event_id, subject)
        finally:
            if done:
                await asyncio.to_thread(self._mark_published, done)
        return len(done)

    def _pending(self) -> list[tuple[int, str, str, str]]:
        with self._session_factory() as session:
            query = (
                select(
                    OutboxMessage.id,
                    OutboxMessage.event_id,
                    OutboxMessage.subject,
                    OutboxMessage.payload,
                )
                .where(OutboxMessage.published_at.is_(None))
                .order_by(OutboxMessage.id)
                .limit(self._batch_size)
            )
            return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]

    def _mark_published(self, ids: list[int]) -> None:
        with self._session_factory() as session:
            session.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(published_at=utcnow())
            )
            session.commit()
