"""Webhooks from the coordinator to real HTTP endpoints on loopback, on each backend."""

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from services.coordinator.app import CoordinatorSettings, create_app
from shared.messaging.nats import NatsLink
from sifang.platform import LocalNats, free_port
from tests import factories

ADMIN = {"Authorization": "Bearer webhook-admin-token-0123"}


class Receiver:
    """An HTTP endpoint on loopback that records what it gets and answers ``status``."""

    def __init__(self, status: int) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived: list[float] = []  # time.monotonic() of each request
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.arrived.append(time.monotonic())
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def coordinator(service_database: Callable[[str], str], nats_server: LocalNats) -> Iterator[TestClient]:
    settings = CoordinatorSettings(
        database_url=service_database("coordinator"),
        nats_url=nats_server.url,
        admin_token="webhook-admin-token-0123",
        webhook_backoff=[0.2, 0.2],
        webhook_timeout=2.0,
        webhook_allowed_networks=["127.0.0.0/8"],  # the local receivers (refused by default)
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _eventually(probe: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        time.sleep(0.1)
    return result


def _publish(nats_server: LocalNats, *events: tuple[str, Any]) -> None:
    async def go() -> None:
        link = NatsLink(nats_server.url, "test-publisher")
        js = await link.jetstream()
        for subject, envelope in events:
            await js.publish(subject, envelope.to_json(), headers={"Nats-Msg-Id": envelope.id})
        await link.close()

    asyncio.run(go())


def test_signed_deliveries_retries_a_dead_endpoint_that_blocks_nothing_and_replay(
    coordinator: TestClient, nats_server: LocalNats
) -> None:
    good, failing = Receiver(204), Receiver(500)
    unreachable = f"http://127.0.0.1:{free_port()}/nobody-listens"
    subscriptions = {}
    for name, url, filters in (
        ("good", good.url, {"types": ["sifang.need.published.v1"]}),
        ("failing", failing.url, {}),
        ("unreachable", unreachable, {"kinds": ["community"]}),
    ):
        response = coordinator.post("/webhooks", headers=ADMIN, json={"url": url, **filters})
        assert response.status_code == 201, response.text
        subscriptions[name] = response.json()
    assert subscriptions["good"]["secret"].startswith("whsec_")
    assert "secret" not in coordinator.get("/webhooks", headers=ADMIN).json()[0]

    before = datetime.now(UTC) - timedelta(seconds=1)
    need_subject, need = factories.need_published("org-1")
    _publish(nats_server, factories.registered("org-1"), (need_subject, need))

    headers, body = _eventually(lambda: good.received and good.received[0])
    assert headers["webhook-id"] == need.id
    assert Webhook(subscriptions["good"]["secret"]).verify(body, headers)["id"] == need.id  # signature holds
    assert headers["content-type"] == "application/cloudevents+json"
    assert len(good.received) == 1  # the registration was filtered out

    def log(name: str, **params: str) -> list[dict[str, Any]]:
        return list(
            coordinator.get(
                f"/webhooks/{subscriptions[name]['id']}/deliveries", headers=ADMIN, params=params
            ).json()
        )

    dead = _eventually(lambda: len(log("failing", status="dead")) == 2 and log("failing", status="dead"))
    assert all(d["attempts"] == 3 and d["last_status_code"] == 500 for d in dead)
    assert len(failing.received) == 6  # two events, three attempts each
    unreachable_log = _eventually(lambda: len(log("unreachable", status="dead")) == 2 and log("unreachable"))
    assert all("ConnectError" in d["last_error"] and d["last_status_code"] is None for d in unreachable_log)
    delivered = _eventually(lambda: log("good", status="delivered"))  # recorded once answered
    assert [d["attempts"] for d in delivered] == [1] and len(log("good")) == 1

    replay = coordinator.post(
        f"/webhooks/{subscriptions['good']['id']}/replay", headers=ADMIN, json={"since": before.isoformat()}
    )
    assert replay.status_code == 202 and replay.json()["enqueued"] == 1
    _eventually(lambda: len(good.received) == 2)
    assert good.received[1][1] == body
    assert [d["replay"] for d in log("good")] == [True, False]

    stopped = coordinator.delete(f"/webhooks/{subscriptions['good']['id']}", headers=ADMIN).json()
    assert stopped["active"] is False
    bad = coordinator.post("/webhooks", headers=ADMIN, json={"url": "not a url"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "url"
    for receiver in (good, failing):
        receiver.close()
