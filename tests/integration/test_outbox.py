"""The outbox relay against a real nats-server and each database backend."""

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import sessionmaker

from shared.db import make_engine
from shared.events.envelope import new_event_id
from shared.messaging import outbox
from shared.messaging.models import OutboxMessage
from shared.messaging.nats import STREAM_NAME, NatsLink
from shared.messaging.outbox import OutboxRelay, record_event
from shared.messaging.outbox import _unpublished as unpublished_rows
from sifang.platform import LocalNats
from tests import factories


def _record(session_factory: sessionmaker, count: int) -> list[str]:  # type: ignore[type-arg]
    ids = []
    org = new_event_id()
    with session_factory() as session:
        for _ in range(count):
            subject, envelope = factories.need_published(org)
            record_event(session, subject, envelope)
            ids.append(envelope.id)
        session.commit()
    return ids


async def _stream_messages(link: NatsLink) -> list[tuple[str, str]]:
    js = await link.jetstream()
    info = await js.stream_info(STREAM_NAME)
    found = []
    for seq in range(1, info.state.messages + 1):
        message = await js.get_msg(STREAM_NAME, seq)
        found.append((message.subject, (message.headers or {})["Nats-Msg-Id"]))
    return found


def _unpublished(session_factory: sessionmaker) -> int:  # type: ignore[type-arg]
    with session_factory() as session:
        query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))
        return int(session.scalar(query) or 0)


async def test_relay_publishes_in_order_with_the_event_id_as_message_id(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> None:
    engine = make_engine(service_database("community"))
    session_factory = sessionmaker(engine)
    link = NatsLink(nats_server.url, "relay-test")
    relay = OutboxRelay(session_factory, link, batch_size=3)
    ids = _record(session_factory, 7)
    while await relay.publish_pending():
        pass
    messages = await _stream_messages(link)
    assert [msg_id for _, msg_id in messages] == ids
    assert {subject for subject, _ in messages} == {"sifang.community.610124.need.published"}
    assert _unpublished(session_factory) == 0

    # A relay that died before marking its batch: the next one publishes it again, and
    # JetStream keeps one copy.
    with session_factory() as session:
        session.execute(update(OutboxMessage).values(published_at=None))
        session.commit()
    relay = OutboxRelay(session_factory, link, batch_size=3)
    while await relay.publish_pending():
        pass
    assert _unpublished(session_factory) == 0
    assert [msg_id for _, msg_id in await _stream_messages(link)] == ids
    await link.close()
    engine.dispose()


async def test_events_wait_in_the_outbox_while_nats_is_down(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> None:
    engine = make_engine(service_database("community"))
    session_factory = sessionmaker(engine)
    link = NatsLink(nats_server.url, "relay-test")
    relay = OutboxRelay(session_factory, link, poll_interval=0.1)
    task = asyncio.create_task(relay.run())
    first = _record(session_factory, 2)
    relay.wake()
    for _ in range(100):
        if _unpublished(session_factory) == 0:
            break
        await asyncio.sleep(0.05)
    assert _unpublished(session_factory) == 0

    nats_server.stop()
    during = _record(session_factory, 3)
    relay.wake()
    await asyncio.sleep(1.0)
    assert _unpublished(session_factory) == 3  # nothing lost, nothing marked

    nats_server.start()
    for _ in range(300):
        if _unpublished(session_factory) == 0:
            break
        await asyncio.sleep(0.05)
    assert _unpublished(session_factory) == 0
    assert [msg_id for _, msg_id in await _stream_messages(link)] == first + during
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await link.close()
    engine.dispose()


async def test_a_commit_landing_while_a_batch_is_published_is_not_left_for_the_next_poll(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> None:
    """The relay's wake-up is not lost: an event committed (and its wake-up sent) after the relay
    read the outbox but before it went back to sleep is published at once, not a poll later."""
    engine = make_engine(service_database("community"))
    session_factory = sessionmaker(engine)
    link = NatsLink(nats_server.url, "relay-test")
    relay = OutboxRelay(session_factory, link, poll_interval=30)  # a lost wake-up waits 30 s
    read_outbox = relay._pending
    late: list[str] = []

    def read_then_commit_another() -> list[tuple[int, str, str, str]]:
        rows = read_outbox()
        if not late:  # a request commits (and wakes the relay) while this batch is in hand
            late.extend(_record(session_factory, 1))
            relay.wake()
        return rows

    relay._pending = read_then_commit_another  # type: ignore[method-assign]
    first = _record(session_factory, 1)
    task = asyncio.create_task(relay.run())
    try:
        for _ in range(100):
            if len(await _stream_messages(link)) == 2:
                break
            await asyncio.sleep(0.05)
        assert [msg_id for _, msg_id in await _stream_messages(link)] == first + late
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await link.close()
        engine.dispose()
    assert _unpublished(session_factory) == 0  # stopping marks what was published


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # PostgreSQL's relays claim and mark at once
async def test_a_relay_reads_only_rows_beyond_those_it_published(
    service_database: Callable[[str], str], nats_server: LocalNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite rows commit in id order, so what a relay published and has not marked yet is
    not read again (it was, on every batch, at a cost growing with the backlog)."""
    engine = make_engine(service_database("community"))
    session_factory = sessionmaker(engine)
    link = NatsLink(nats_server.url, "relay-test")
    relay = OutboxRelay(session_factory, link, batch_size=4)
    first = _record(session_factory, 4)
    assert await relay._publish_batch() == 4
    assert _unpublished(session_factory) == 4  # published, not marked yet
    later = _record(session_factory, 3)
    read: list[int] = []  # rows the relay's query returns (the real query, counted)

    def counted(session: Any, limit: int, *, after: int = 0) -> list[tuple[int, str, str, str]]:
        rows = unpublished_rows(session, limit, after=after)
        read.append(len(rows))
        return rows

    monkeypatch.setattr(outbox, "_unpublished", counted)
    assert [event_id for _, event_id, _, _ in relay._pending()] == later
    assert read == [3]  # not the 4 unmarked ones again
    while await relay.publish_pending():
        pass
    assert _unpublished(session_factory) == 0
    assert [msg_id for _, msg_id in await _stream_messages(link)] == first + later  # each once
    await link.close()
    engine.dispose()
