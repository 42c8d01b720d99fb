"""Bounded in-flight writes: the real community service, a real nats-server, each backend."""

import asyncio
import json
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from services.community.app import SETTINGS, create_app
from shared.messaging.models import OutboxMessage
from shared.messaging.nats import NatsLink
from shared.stakeholder.models import Need
from sifang.platform import LocalNats
from tests.integration.stakeholders import writes_held

ADMIN = {"Authorization": "Bearer test-admin-token-0123456789"}
NEED = {"category": "training.livestream", "title": "直播带货培训", "quantity": 30, "unit": "人"}


async def need_ids_on_stream(nats_url: str, expected: int) -> set[str]:
    link = NatsLink(nats_url, "test-reader")
    found: set[str] = set()
    try:
        js = await link.jetstream()
        sub = await js.subscribe("sifang.community.*.need.published", ordered_consumer=True)
        deadline = time.monotonic() + 10
        while len(found) < expected and time.monotonic() < deadline:
            try:
                message = await sub.next_msg(timeout=0.5)
            except TimeoutError:
                continue
            found.add(json.loads(message.data)["data"]["need_id"])
        await sub.unsubscribe()
    finally:
        await link.close()
    return found


def test_writes_beyond_the_limit_get_a_fast_503_and_every_accepted_one_is_published(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> None:
    url = service_database("community")
    settings = SETTINGS(
        database_url=url,
        nats_url=nats_server.url,
        admin_token="test-admin-token-0123456789",
        max_inflight_writes=2,
        retry_after_seconds=3,
    )
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/organisations", headers=ADMIN, json={"name": "秦岭村委会", "region": "610124104201"}
        )
        assert response.status_code == 201, response.text
        key = {"Authorization": f"Bearer {response.json()['api_key']}"}

        with ThreadPoolExecutor(8) as pool, writes_held(url):
            # Two writes are admitted and wait for the database; the six after them are refused.
            started = time.monotonic()
            futures: list[Future[httpx.Response]] = [
                pool.submit(client.post, "/needs", headers=key, json=NEED) for _ in range(8)
            ]
            while sum(f.done() for f in futures) < 6 and time.monotonic() - started < 10:
                time.sleep(0.01)
            refused = [f for f in futures if f.done()]
            assert len(refused) == 6
            assert time.monotonic() - started < 5  # answered while the admitted ones still wait
            for future in refused:
                response = future.result()
                assert response.status_code == 503
                assert response.headers["Retry-After"] == "3"
                body = response.json()
                assert body["error"] == "unavailable"
                assert body["errors"] == []
                assert "nothing was changed" in body["message"]
        admitted = [f.result() for f in futures if f not in refused]
        assert [r.status_code for r in admitted] == [201, 201]
        ids = {r.json()["need_id"] for r in admitted}

        # Reads are not limited, and the service takes writes again at once.
        assert client.get("/needs", headers=key).status_code == 200
        response = client.post("/needs", headers=key, json=NEED)
        assert response.status_code == 201
        ids.add(response.json()["need_id"])
        assert asyncio.run(need_ids_on_stream(nats_server.url, 3)) == ids  # published while up

    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Need)) == 3  # the refused left nothing
        published = connection.scalar(
            select(func.count()).where(OutboxMessage.event_type == "sifang.need.published.v1")
        )
        assert published == 3
    engine.dispose()


def test_needs_waiting_together_take_no_turn_and_share_one_commit(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> None:
    """Publishing needs is group-committed: while the database is busy, twelve admitted writes
    wait without taking a turn (two at a time on SQLite) and go in together once it is free;
    each is answered only after its commit, and every one reaches the stream."""
    url = service_database("community")
    settings = SETTINGS(database_url=url, nats_url=nats_server.url, admin_token="test-admin-token-0123456789")
    with TestClient(create_app(settings)) as client:
        writer = client.app.state.runtime.writer  # type: ignore[attr-defined]
        response = client.post(
            "/organisations", headers=ADMIN, json={"name": "秦岭村委会", "region": "610124104201"}
        )
        key = {"Authorization": f"Bearer {response.json()['api_key']}"}
        assert client.post("/needs", headers=key, json=NEED).status_code == 201  # the key is known now
        batches_before = writer.transactions

        with ThreadPoolExecutor(12) as pool, writes_held(url):
            futures = [pool.submit(client.post, "/needs", headers=key, json=NEED) for _ in range(12)]
            time.sleep(1.0)
            assert not any(f.done() for f in futures)  # none answered before its commit
        responses = [f.result() for f in futures]
        assert [r.status_code for r in responses] == [201] * 12
        # The first batch took what had arrived when the writer woke; the rest waited together
        # (taking turns two at a time would have needed at least six transactions).
        assert writer.transactions - batches_before <= 3
        ids = {r.json()["need_id"] for r in responses}
        assert ids <= asyncio.run(need_ids_on_stream(nats_server.url, 13))
