"""Who may do what on the bus, against a real nats-server configured as ``make run`` configures it.

Each service's user publishes only its own kind's subjects and runs only its own durable
consumer; only the admin user manages the stream; anonymous clients are refused.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import StreamConfig

from shared.events.subjects import STAKEHOLDER_KINDS
from shared.messaging.access import ADMIN_USER, embedded_users, load_or_create_passwords, render_authorization
from shared.messaging.nats import STREAM_NAME, NatsLink, ensure_pull_consumer, provision_stream
from sifang.platform import EMBEDDED_INTEGRATORS, LocalNats, free_port
from tests import factories

REFUSED = (NoRespondersError, NatsTimeoutError, TimeoutError)
USERS = [ADMIN_USER, *STAKEHOLDER_KINDS, "coordinator", *EMBEDDED_INTEGRATORS]


class Bus:
    """A server with make run's users; ``connect(user)`` opens a client that records its errors."""

    def __init__(self, server: LocalNats, passwords: dict[str, str]) -> None:
        self.server = server
        self.passwords = passwords
        self.errors: list[str] = []
        self._clients: list[Client] = []

    async def connect(self, user: str) -> Client:
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc))

        client = await nats.connect(
            self.server.url,
            user=user,
            password=self.passwords[user],
            allow_reconnect=False,
            error_cb=on_error,
        )
        self._clients.append(client)
        return client

    def link(self, user: str) -> NatsLink:
        return NatsLink(self.server.url, f"sifang-{user}", user=user, password=self.passwords[user])

    async def messages(self) -> int:
        admin = await self.connect(ADMIN_USER)
        return int((await admin.jetstream().stream_info(STREAM_NAME)).state.messages)

    async def close(self) -> None:
        for client in self._clients:
            if not client.is_closed:
                await client.close()


@pytest.fixture
def secured_server(tmp_path: Path) -> Iterator[tuple[LocalNats, dict[str, str]]]:
    passwords = load_or_create_passwords(tmp_path / "nats" / "credentials.json", USERS)
    users = embedded_users(passwords, coordinator_durables=["coordinator"], integrators=EMBEDDED_INTEGRATORS)
    server = LocalNats(
        free_port(), tmp_path / "nats", tmp_path / "nats.log", authorization=render_authorization(users)
    )
    server.start()
    yield server, passwords
    server.stop()


@pytest.fixture
async def bus(secured_server: tuple[LocalNats, dict[str, str]]) -> AsyncIterator[Bus]:
    server, passwords = secured_server
    await provision_stream(server.url, user=ADMIN_USER, password=passwords[ADMIN_USER])
    bus = Bus(server, passwords)
    yield bus
    await bus.close()


async def test_anonymous_and_wrong_password_connections_are_refused(bus: Bus) -> None:
    with pytest.raises(Exception, match=r"(?i)authorization"):
        await nats.connect(bus.server.url, allow_reconnect=False, max_reconnect_attempts=0)
    with pytest.raises(Exception, match=r"(?i)authorization"):
        await nats.connect(
            bus.server.url,
            user="community",
            password="guessed",
            allow_reconnect=False,
            max_reconnect_attempts=0,
        )


async def test_only_the_admin_user_creates_the_stream(
    secured_server: tuple[LocalNats, dict[str, str]],
) -> None:
    server, passwords = secured_server
    bus = Bus(server, passwords)
    client = await bus.connect("community")
    with pytest.raises(REFUSED):
        await client.jetstream(timeout=2).add_stream(StreamConfig(name=STREAM_NAME, subjects=["sifang.>"]))
    await client.flush()  # the server's -ERR comes before its PONG
    await provision_stream(server.url, user=ADMIN_USER, password=passwords[ADMIN_USER])
    await provision_stream(server.url, user=ADMIN_USER, password=passwords[ADMIN_USER])  # idempotent
    admin = (await bus.connect(ADMIN_USER)).jetstream()
    assert (await admin.stream_info(STREAM_NAME)).config.subjects == ["sifang.>"]
    assert any(
        "permissions violation" in e.lower() and "stream.create.sifang" in e.lower() for e in bus.errors
    ), bus.errors
    await bus.close()


async def test_community_publishes_only_community_events(bus: Bus) -> None:
    client = await bus.connect("community")
    js = client.jetstream(timeout=2)
    subject, need = factories.need_published("org-1")
    assert subject.startswith("sifang.community.")
    await js.publish(subject, need.to_json(), headers={"Nats-Msg-Id": need.id})

    for forged in ("sifang.government.610124.programme.opened", "sifang.coordinator.610124.match.confirmed"):
        bus.errors.clear()
        with pytest.raises(REFUSED):
            await js.publish(forged, need.to_json())
        await client.flush()
        assert any(
            "permissions violation for publish" in e.lower() and forged in e.lower() for e in bus.errors
        ), bus.errors
    assert await bus.messages() == 1  # only its own event landed


async def test_coordinator_publishes_only_coordinator_events(bus: Bus) -> None:
    client = await bus.connect("coordinator")
    js = client.jetstream(timeout=2)
    await js.publish("sifang.coordinator.610124.match.proposed", b"{}")
    for forged in ("sifang.community.610124.need.published", "sifang.enterprise.610124.need.published"):
        bus.errors.clear()
        with pytest.raises(REFUSED):
            await js.publish(forged, b"{}")
        await client.flush()
        assert any("permissions violation for publish" in e.lower() for e in bus.errors), bus.errors
    assert await bus.messages() == 1


@pytest.mark.parametrize("user", [*STAKEHOLDER_KINDS, "coordinator", *EMBEDDED_INTEGRATORS])
async def test_no_service_or_integrator_user_deletes_updates_or_purges_the_stream(
    bus: Bus, user: str
) -> None:
    admin = (await bus.connect(ADMIN_USER)).jetstream()
    await admin.publish("sifang.community.610124.need.published", b"{}")
    js = (await bus.connect(user)).jetstream(timeout=0.5)
    config = (await admin.stream_info(STREAM_NAME)).config
    with pytest.raises(REFUSED):
        await js.delete_stream(STREAM_NAME)
    with pytest.raises(REFUSED):
        await js.update_stream(config.evolve(max_msgs=1))
    with pytest.raises(REFUSED):
        await js.purge_stream(STREAM_NAME)
    with pytest.raises(REFUSED):
        await js.delete_msg(STREAM_NAME, 1)
    info = await admin.stream_info(STREAM_NAME)
    assert info.state.messages == 1 and info.config.max_msgs == config.max_msgs


async def test_each_service_publishes_and_consumes_through_its_own_durable_only(bus: Bus) -> None:
    coordinator = await bus.link("coordinator").jetstream()  # checks the stream, creates nothing
    await coordinator.publish("sifang.coordinator.610124.match.proposed", b'{"n": 1}')
    for kind in STAKEHOLDER_KINDS:
        link = bus.link(kind)
        js = await link.jetstream()
        subject, event = factories.need_published(f"org-{kind}")
        await js.publish(subject.replace("sifang.community.", f"sifang.{kind}."), event.to_json())
        subscription = await ensure_pull_consumer(
            js,
            durable=f"{kind}-coordinator-events",
            filter_subjects=["sifang.coordinator.>"],
            max_deliver=3,
            ack_wait=5,
        )
        [message] = await subscription.fetch(1, timeout=5)
        assert message.data == b'{"n": 1}'
        await message.ack_sync()
        other = "community" if kind != "community" else "government"
        same_user = (await bus.connect(kind)).jetstream(timeout=0.5)
        with pytest.raises(REFUSED):  # another kind's consumer, or the coordinator's
            await same_user.consumer_info(STREAM_NAME, f"{other}-coordinator-events")
        with pytest.raises(REFUSED):
            await ensure_pull_consumer(
                same_user, durable="coordinator", filter_subjects=["sifang.>"], max_deliver=3, ack_wait=5
            )
        await link.close()

    subscription = await ensure_pull_consumer(
        coordinator,
        durable="coordinator",
        filter_subjects=[f"sifang.{kind}.>" for kind in STAKEHOLDER_KINDS],
        max_deliver=3,
        ack_wait=5,
    )
    messages = []
    for _ in STAKEHOLDER_KINDS:
        [message] = await subscription.fetch(1, timeout=5)
        await message.ack_sync()
        messages.append(message.subject.split(".")[1])
    assert messages == list(STAKEHOLDER_KINDS)
    assert await bus.messages() == 5


async def test_a_service_link_waits_for_the_stream_instead_of_creating_it(
    secured_server: tuple[LocalNats, dict[str, str]],
) -> None:
    server, passwords = secured_server
    bus = Bus(server, passwords)
    link = bus.link("community")
    waiting = asyncio.create_task(link.jetstream())
    await asyncio.sleep(1.0)
    assert not waiting.done()  # no stream yet, and community may not create it
    await provision_stream(server.url, user=ADMIN_USER, password=passwords[ADMIN_USER])
    js = await asyncio.wait_for(waiting, 15)
    assert (await js.stream_info(STREAM_NAME)).config.name == STREAM_NAME
    await link.close()
    await bus.close()
