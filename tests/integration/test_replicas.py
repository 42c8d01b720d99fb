"""Two replicas of a stakeholder service on one PostgreSQL database, as real processes behind a
round-robin client: every event is published once, in change order per entity, also when one
replica is killed with SIGKILL mid-load; on SQLite one relay works a database file at a time."""

import asyncio
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from services.migrate import upgrade
from shared.db import make_engine
from shared.messaging.models import OutboxMessage
from shared.messaging.nats import STREAM_NAME, NatsLink
from shared.messaging.outbox import OutboxRelay
from sifang.platform import LocalNats
from tests.integration.test_outbox import _record
from tests.processes import ServiceProcess, eventually

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "replica-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
NEEDS = 120  # each updated ROUNDS times through both replicas at once, a third then withdrawn
ROUNDS = 5


class Replica(ServiceProcess):
    """One community service process (uvicorn, one worker) on the shared database."""

    def __init__(self, name: str, database_url: str, nats_url: str, log: Path) -> None:
        self.name = name
        env = {
            "NATS_URL": nats_url,
            "COMMUNITY_DATABASE_URL": database_url,
            "SIFANG_ADMIN_TOKEN": TOKEN,
            "SIFANG_VAR_DIR": str(log.parent),
        }
        super().__init__("community", env, log)

    def published(self) -> float:
        text = httpx.get(self.url + "/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "sifang_outbox_published_total":
                    return sample.value
        raise AssertionError("no sifang_outbox_published_total")


@contextmanager
def replicas(database_url: str, nats_url: str, tmp_path: Path) -> Iterator[list[Replica]]:
    started: list[Replica] = []
    try:
        for name in ("a", "b"):
            started.append(Replica(name, database_url, nats_url, tmp_path / f"community-{name}.log"))
        yield started
    finally:
        for replica in started:
            replica.stop()


class RoundRobin:
    """Sends each request to the next live replica; a replica that does not answer is skipped
    from then on and the request goes to the next one (``retry``), as a load balancer would."""

    def __init__(self, replicas: list[Replica], headers: dict[str, str]) -> None:
        self.replicas = replicas
        self.dead: set[str] = set()
        self.cycle = itertools.cycle(replicas)
        self.client = httpx.AsyncClient(headers=headers, timeout=30)
        self.statuses: dict[int, int] = defaultdict(int)

    async def send(
        self, method: str, path: str, body: dict[str, Any], *, to: Replica | None = None
    ) -> httpx.Response | None:
        for _ in range(2 * len(self.replicas)):  # each replica once, whichever the cycle is at
            replica = to if to is not None and to.name not in self.dead else next(self.cycle)
            to = None
            if replica.name in self.dead:
                continue
            try:
                response = await self.client.request(method, replica.url + path, json=body)
            except httpx.TransportError:
                self.dead.add(replica.name)  # a create that got no answer is not sent twice
                if method == "POST" and path == "/needs":
                    return None
                continue
            self.statuses[response.status_code] += 1
            return response
        raise AssertionError("no replica answered")


def _village_behind(a: Replica, b: Replica) -> RoundRobin:
    """A village registered through ``a``, writing through both replicas in turn."""
    registered = httpx.post(
        a.url + "/organisations", headers=ADMIN, json={"name": "西村", "region": "610124104201"}
    )
    return RoundRobin([a, b], {"Authorization": f"Bearer {registered.json()['api_key']}"})


async def _load(
    client: RoundRobin, replicas: list[Replica], on_round: Callable[[int], None], needs: int = NEEDS
) -> dict[str, int]:
    """Creates, updates (two at once per need, one through each replica) and withdrawals;
    returns each need's count of changes answered 200."""
    gate = asyncio.Semaphore(8)
    changes: dict[str, int] = {}

    async def create(i: int) -> None:
        async with gate:
            need = {
                "category": "training.livestream",
                "title": f"直播培训 {i}",
                "quantity": 10 + i,
                "unit": "人",
            }
            response = await client.send("POST", "/needs", need)
            if response is not None:
                assert response.status_code == 201, response.text
                changes[response.json()["need_id"]] = 0

    async def change(need_id: str, body: dict[str, Any], replica: Replica, path: str = "") -> None:
        async with gate:
            method = "POST" if path else "PATCH"
            response = await client.send(method, f"/needs/{need_id}{path}", body, to=replica)
            assert response is not None and response.status_code in (200, 409), response and response.text
            if response.status_code == 200 and not path:
                changes[need_id] += 1

    await asyncio.gather(*(create(i) for i in range(needs)))
    a, b = replicas
    for round_ in range(ROUNDS):
        on_round(round_)
        both = (
            (change(n, {"title": f"第{round_}轮"}, a), change(n, {"quantity": 1000 + round_}, b))
            for n in list(changes)
        )
        await asyncio.gather(*itertools.chain.from_iterable(both))  # a need's two changes side by side
    withdrawn = list(changes)[::3]
    await asyncio.gather(*(change(n, {"reason": "已解决"}, b, "/withdraw") for n in withdrawn))
    return changes


async def _stream(nats_url: str) -> list[dict[str, Any]]:
    link = NatsLink(nats_url, "replica-test-reader")
    js = await link.jetstream()
    info = await js.stream_info(STREAM_NAME)
    events = []
    for sequence in range(1, info.state.messages + 1):
        message = await js.get_msg(STREAM_NAME, sequence)
        events.append(json.loads(message.data))
    await link.close()
    return events


def _outbox(database_url: str) -> tuple[set[str], int]:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        ids = list(connection.scalars(select(OutboxMessage.event_id)))
        unpublished = len(
            list(connection.scalars(select(OutboxMessage.id).where(OutboxMessage.published_at.is_(None))))
        )
    engine.dispose()
    return set(ids), unpublished


def _check_stream(nats_url: str, database_url: str, changes: dict[str, int]) -> list[dict[str, Any]]:
    """Every outbox row is on the stream exactly once; per need, the stream has its changes in
    order: published (version 1), each update with the next version, then the withdrawal."""
    eventually(lambda: _outbox(database_url)[1] == 0)
    outbox, _ = _outbox(database_url)
    events = asyncio.run(_stream(nats_url))
    ids = [event["id"] for event in events]
    assert len(ids) == len(set(ids)), "an event is on the stream twice"
    assert set(ids) == outbox
    per_need: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for event in events:
        data = event["data"]
        if "need_id" in data:
            per_need[data["need_id"]].append((event["type"].split(".")[2], data["version"]))
    assert set(changes) <= set(per_need)
    for need_id, seen in per_need.items():
        verbs = [verb for verb, _ in seen]
        versions = [version for verb, version in seen if verb != "withdrawn"]
        assert verbs[0] == "published" and "published" not in verbs[1:], (need_id, seen)
        assert versions == list(range(1, len(versions) + 1)), (need_id, seen)  # no version twice, none lost
        if "withdrawn" in verbs:
            assert verbs[-1] == "withdrawn" and verbs.count("withdrawn") == 1
            assert seen[-1][1] == versions[-1]
        if need_id in changes:
            assert len(versions) - 1 == changes[need_id]  # every update answered 200 is there, once
    return events


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_two_replicas_publish_every_event_once_in_change_order(
    service_database: Callable[[str], str], nats_server: LocalNats, tmp_path: Path
) -> None:
    database_url = service_database("community")
    with replicas(database_url, nats_server.url, tmp_path) as (a, b):
        client = _village_behind(a, b)
        changes = asyncio.run(_load(client, [a, b], lambda _: None))
        assert client.statuses[201] == NEEDS and set(client.statuses) <= {200, 201, 409}
        events = _check_stream(nats_server.url, database_url, changes)
        # Published once: the relays' own counts add up to the events, no copy absorbed by the
        # stream's duplicate window.
        assert a.published() + b.published() == len(events)
        assert len(events) > 2 * NEEDS * ROUNDS  # a few thousand writes went through


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_replica_killed_mid_load_loses_nothing_and_doubles_nothing(
    service_database: Callable[[str], str], nats_server: LocalNats, tmp_path: Path
) -> None:
    database_url = service_database("community")
    with replicas(database_url, nats_server.url, tmp_path) as (a, b):
        client = _village_behind(a, b)

        def kill_a(round_: int) -> None:
            if round_ == 2:
                a.kill()  # SIGKILL between rounds, with its relay possibly mid-batch

        changes = asyncio.run(_load(client, [a, b], kill_a, needs=NEEDS // 2))
        assert "a" in client.dead
        _check_stream(nats_server.url, database_url, changes)  # b relayed what a left behind


def test_on_sqlite_a_second_relay_on_the_same_file_waits_for_the_first(
    tmp_path: Path, nats_server: LocalNats
) -> None:
    url = f"sqlite:///{tmp_path / 'community.db'}"
    upgrade("community", url)
    engine = make_engine(url)
    session_factory = sessionmaker(engine)

    async def scenario() -> tuple[int, int]:
        first_link, second_link = NatsLink(nats_server.url, "first"), NatsLink(nats_server.url, "second")
        first = OutboxRelay(session_factory, first_link, poll_interval=0.1)
        second = OutboxRelay(session_factory, second_link, poll_interval=0.1)
        first_task = asyncio.create_task(first.run())
        await asyncio.sleep(0.3)
        second_task = asyncio.create_task(second.run())
        _record(session_factory, 5)
        first.wake()
        second.wake()
        await _until(lambda: first.published == 5)
        await asyncio.sleep(0.5)  # time the second would have had to publish, were it not waiting
        waited = second.published
        first_task.cancel()  # the first stops: the second takes over the file
        await asyncio.gather(first_task, return_exceptions=True)
        _record(session_factory, 3)
        second.wake()
        await _until(lambda: second.published >= 3)
        await asyncio.sleep(0.3)  # nothing more than the three comes
        second_task.cancel()
        await asyncio.gather(second_task, return_exceptions=True)
        await first_link.close()
        await second_link.close()
        assert first.published == 5
        return waited, second.published

    waited, published = asyncio.run(scenario())
    assert waited == 0  # it did not publish while the first held the file
    assert published == 3
    engine.dispose()


async def _until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Until ``condition`` holds (a loaded machine may take seconds to connect and publish)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.05)
