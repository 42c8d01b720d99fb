"""The transactional outbox: events are written with the change they report and relayed to NATS.

``record_event`` adds an event to the caller's transaction. The :class:`OutboxRelay` publishes
committed events in order with ``Nats-Msg-Id`` set to the event id, so a relay that crashes
between publishing and marking re-publishes into JetStream's duplicate window and nothing is
doubled; consumers' inboxes catch anything older.

**Several replicas on one database.** On PostgreSQL each batch is claimed: the relay opens a
transaction, takes the transaction-scoped advisory lock :data:`RELAY_LOCK`, reads the oldest
unpublished rows, publishes them and marks them in that same transaction. A relay of another
replica that finds the lock taken tries again a moment later, so batches never overlap, every
row is published by one relay, once, and rows go out in outbox order. A relay killed mid-batch
holds nothing: PostgreSQL drops its lock with its connection, and its unmarked rows go out
again into the duplicate window. Per entity, outbox order is the order of the changes because
a change locks its entity's row before its event gets an outbox id (``SELECT ... FOR UPDATE``).
On SQLite one relay runs per database file: it holds an exclusive lock on ``<file>.relay``
while it runs, and a second process's relay waits for it (run one process per SQLite file).
"""

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from pathlib import Path
from typing import cast

from nats.js import JetStreamContext
from sqlalchemy import Table, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.db import add_row, utcnow
from shared.events.envelope import CONTENT_TYPE, CloudEvent
from shared.messaging.models import OutboxMessage
from shared.messaging.nats import STREAM_NAME, NatsLink, raise_if_cancelled

__all__ = ["RELAY_LOCK", "OutboxRelay", "record_event"]

log = logging.getLogger(__name__)

_OUTBOX = cast(Table, OutboxMessage.__table__)  # Core statements: no ORM bookkeeping per batch
RELAY_LOCK = 0x5F_1F_A9_0B  # PostgreSQL advisory lock key: the one relay batch in flight per database


def record_event(session: Session, subject: str, event: CloudEvent) -> None:
    """Add ``event`` to the outbox in the session's transaction."""
    add_row(
        session,
        OutboxMessage,
        event_id=event.id,
        event_type=event.type,
        subject=subject,
        payload=event.to_json().decode(),
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
        # SQLite: the last row this relay published. One writer at a time, so rows commit in id
        # order and every unpublished row lies beyond it (none is read again while unmarked).
        self._published_through = 0
        self._unmarked_since = 0.0
        bind = session_factory.kw.get("bind")
        self._claims = isinstance(bind, Engine) and bind.dialect.name == "postgresql"
        database = bind.url.database if isinstance(bind, Engine) and bind.dialect.name == "sqlite" else None
        self._file_lock = Path(database + ".relay") if database and database != ":memory:" else None
        self._contended = False  # the last claim found another replica's batch in flight
        self.published = 0  # messages this relay has published (acknowledged by JetStream)

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
        lock_fd = await self._hold_file_lock() if self._file_lock is not None else None
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
                if self._contended:  # another replica is publishing a batch: ours may be next
                    await asyncio.sleep(self._linger * 2)
                    continue
                if published:
                    # Busy: let a few more commits gather rather than read the outbox per event.
                    await asyncio.sleep(self._linger)
                timeout = self._mark_interval if self._unmarked else self._poll_interval
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=timeout)
        finally:
            self._loop = None
            if lock_fd is not None:
                os.close(lock_fd)  # releases the file lock
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

    async def _hold_file_lock(self) -> int:
        """Wait until this relay holds the SQLite file's relay lock; returns its descriptor."""
        assert self._file_lock is not None
        descriptor = os.open(self._file_lock, os.O_RDWR | os.O_CREAT, 0o600)
        waiting = False
        try:
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not waiting:
                        log.warning(
                            "outbox relay: another process relays %s; waiting "
                            "(run one process per SQLite file)",
                            self._file_lock.with_suffix(""),
                        )
                        waiting = True
                    await asyncio.sleep(self._poll_interval)
        except BaseException:
            os.close(descriptor)
            raise
        if waiting:
            log.info("outbox relay: took over %s", self._file_lock.with_suffix(""))
        return descriptor

    async def _publish_batch(self) -> int:
        if self._claims:
            return await self._publish_claimed_batch()
        rows = await asyncio.to_thread(self._pending)
        if not rows:
            return 0
        js = await self._link.jetstream()
        done = 0
        try:
            for row_id, event_id, subject, payload in rows:
                await self._publish(js, event_id, subject, payload)
                if not self._unmarked:
                    self._unmarked_since = time.monotonic()
                self._unmarked.append(row_id)
                self._published_through = row_id
                done += 1
        finally:
            if done < len(rows):
                await self._mark(force=True)
        return done

    async def _publish(self, js: JetStreamContext, event_id: str, subject: str, payload: str) -> None:
        """One outbox row to JetStream, the event id as ``Nats-Msg-Id``; returns once acknowledged."""
        await js.publish(
            subject,
            payload.encode(),
            stream=STREAM_NAME,
            headers={"Nats-Msg-Id": event_id, "Content-Type": CONTENT_TYPE},
        )
        self.published += 1
        log.debug("published %s to %s", event_id, subject)

    async def _publish_claimed_batch(self) -> int:
        """PostgreSQL: claim, publish and mark one batch in one transaction (the module's doc)."""
        session = self._session_factory()
        published: list[int] = []
        try:
            rows = await asyncio.to_thread(self._claim, session)
            self._contended = rows is None
            if not rows:
                return 0
            js = await self._link.jetstream()
            try:
                for row_id, event_id, subject, payload in rows:
                    await self._publish(js, event_id, subject, payload)
                    published.append(row_id)
            finally:
                if published:  # what went out is marked, even when the rest of the batch failed
                    await asyncio.to_thread(self._mark_claimed, session, published)
            return len(published)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(session.close)  # a rollback, if nothing was marked: the lock goes

    def _claim(self, session: Session) -> list[tuple[int, str, str, str]] | None:
        """The oldest unpublished rows, or None when another relay's batch holds the lock."""
        if not session.scalar(select(func.pg_try_advisory_xact_lock(RELAY_LOCK))):
            return None
        return _unpublished(session, self._batch_size)

    @staticmethod
    def _mark_claimed(session: Session, ids: list[int]) -> None:
        session.execute(update(_OUTBOX).where(_OUTBOX.c.id.in_(ids)).values(published_at=utcnow()))
        session.commit()

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
        with self._session_factory() as session:
            return _unpublished(session, self._batch_size, after=self._published_through)

    def _mark_published(self, ids: list[int]) -> None:
        with self._session_factory() as session:
            session.execute(update(_OUTBOX).where(_OUTBOX.c.id.in_(ids)).values(published_at=utcnow()))
            session.commit()


def _unpublished(session: Session, limit: int, *, after: int = 0) -> list[tuple[int, str, str, str]]:
    """The oldest outbox rows not yet published (beyond row ``after``): id, event id, subject, payload."""
    query = (
        select(_OUTBOX.c.id, _OUTBOX.c.event_id, _OUTBOX.c.subject, _OUTBOX.c.payload)
        .where(_OUTBOX.c.published_at.is_(None), _OUTBOX.c.id > after)
        .order_by(_OUTBOX.c.id)
        .limit(limit)
    )
    return [(r[0], r[1], r[2], r[3]) for r in session.execute(query)]
