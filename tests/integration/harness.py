"""A coordinator consumer against a real nats-server and a real database, driven by tests."""

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.coordinator.app import CoordinatorSettings, stakeholder_consumer
from services.coordinator.journal.models import EventLogEntry
from shared.app import Runtime, build_runtime
from shared.events.envelope import CONTENT_TYPE, CloudEvent, new_event_id
from shared.messaging.consumer import EventConsumer, EventHandler
from shared.messaging.nats import STREAM_NAME, NatsLink
from tests import factories


class CoordinatorHarness:
    def __init__(self, database_url: str, nats_url: str) -> None:
        self.settings = CoordinatorSettings(
            database_url=database_url,
            nats_url=nats_url,
            max_deliver=4,
            backoff=[0.05, 0.1],
            ack_wait=1.0,
            hold_timeout_seconds=60,
        )
        self.runtime: Runtime = build_runtime(self.settings)
        self.publisher = NatsLink(nats_url, "test-publisher")
        self._task: asyncio.Task[None] | None = None
        self._link: NatsLink | None = None

    def consumer(self, handler: EventHandler | None = None) -> EventConsumer:
        consumer = stakeholder_consumer(self.settings, self.runtime)
        if handler is not None:
            consumer._handler = handler
        return consumer

    async def start(self, handler: EventHandler | None = None, consumer: EventConsumer | None = None) -> None:
        self._link = NatsLink(self.settings.nats_url, "test-coordinator")
        self._task = asyncio.create_task((consumer or self.consumer(handler)).run(self._link))

    async def stop(self) -> None:
        """Stop as a crash would: cancel mid-work and drop the connection, acking nothing more."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._link is not None:
            await self._link.close()
            self._link = None

    async def close(self) -> None:
        await self.stop()
        await self.publisher.close()
        self.runtime.engine.dispose()

    async def publish(self, subject: str, payload: bytes | CloudEvent, msg_id: str | None = None) -> Any:
        js = await self.publisher.jetstream()
        body = payload.to_json() if isinstance(payload, CloudEvent) else payload
        headers = {"Content-Type": CONTENT_TYPE}
        if msg_id:
            headers["Nats-Msg-Id"] = msg_id
        return await js.publish(subject, body, stream=STREAM_NAME, headers=headers)

    async def register(self, kind: str = "community", org: str | None = None) -> str:
        """Publish an organisation's registration (events of unregistered ones are held)."""
        org = org or new_event_id()
        subject, envelope = factories.registered(org, kind=kind)
        await self.publish(subject, envelope, envelope.id)
        return org

    def session(self) -> Session:
        return self.runtime.session_factory()

    def count(self, model: Any, *where: Any) -> int:
        with self.session() as session:
            return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    def logged(self) -> int:
        """The parties' events in the log (not what the coordinator derived from them, such as
        the market signal thirty needs without an offer give)."""
        return self.count(EventLogEntry, EventLogEntry.kind != "coordinator")

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached in time")
            await asyncio.sleep(0.05)
