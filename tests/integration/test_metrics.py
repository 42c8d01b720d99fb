"""``/metrics`` on the services, scraped after a flow: the counters move with what happened."""

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from services.community.app import SETTINGS as CommunitySettings
from services.community.app import create_app as create_community
from services.coordinator.app import CoordinatorSettings
from services.coordinator.app import create_app as create_coordinator
from shared.events.envelope import CloudEvent, new_event_id
from shared.messaging.nats import NatsLink
from sifang.platform import LocalNats, free_port
from tests import factories

ADMIN = {"Authorization": "Bearer metrics-admin-token-0123456789"}
HUB_ADMIN = {"Authorization": "Bearer coordinator-admin-token-0123"}
NEED = {"category": "training.livestream", "title": "直播带货培训", "quantity": 30, "unit": "人"}


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``, by name and sorted labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _eventually(probe: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        if time.monotonic() > deadline:
            raise AssertionError("not seen in time")
        time.sleep(0.05)
    return result


@pytest.fixture
def platform(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> Iterator[tuple[TestClient, TestClient]]:
    community = CommunitySettings(
        database_url=service_database("community"),
        nats_url=nats_server.url,
        admin_token=ADMIN["Authorization"].split()[1],
    )
    coordinator = CoordinatorSettings(
        database_url=service_database("coordinator"),
        nats_url=nats_server.url,
        admin_token=HUB_ADMIN["Authorization"].split()[1],
        webhook_allowed_networks=["127.0.0.0/8"],  # the webhook below points at a closed local port
        webhook_backoff=[600.0],
    )
    with (
        TestClient(create_community(community)) as village,
        TestClient(create_coordinator(coordinator)) as hub,
    ):
        yield village, hub


def test_requests_outbox_and_consumer_counters_move_with_a_flow(
    platform: tuple[TestClient, TestClient], nats_server: LocalNats
) -> None:
    village, hub = platform
    closed = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: its deliveries wait
    webhook = hub.post("/webhooks", headers=HUB_ADMIN, json={"url": closed})
    assert webhook.status_code == 201, webhook.text
    registered = village.post(
        "/organisations", headers=ADMIN, json={"name": "西村村委会", "region": "610124104201"}
    )
    assert registered.status_code == 201
    key = {"Authorization": f"Bearer {registered.json()['api_key']}"}
    for _ in range(3):
        assert village.post("/needs", headers=key, json=NEED).status_code == 201
    assert village.post("/needs", headers=key, json={**NEED, "quantity": "lots"}).status_code == 422
    need_id = village.get("/needs", headers=key).json()[0]["need_id"]
    assert village.get(f"/needs/{need_id}", headers=key).status_code == 200

    after = _eventually(lambda: (s := scrape(village))[("sifang_outbox_backlog", ())] == 0 and s)
    post = ("method", "POST"), ("route", "/needs")
    assert after[("sifang_http_requests_total", (*post, ("status", "201")))] == 3
    assert after[("sifang_http_requests_total", (*post, ("status", "422")))] == 1
    # Routes are templates: the need's id does not make a series of its own.
    get_one = (
        "sifang_http_requests_total",
        (("method", "GET"), ("route", "/needs/{listing_id}"), ("status", "200")),
    )
    assert after[get_one] == 1
    assert not any(need_id in str(labels) for _, labels in after)
    assert after[("sifang_http_request_duration_seconds_count", post)] == 4
    # The organisation's registration and three needs went out, each once.
    assert after[("sifang_outbox_published_total", ())] == 4
    assert after[("sifang_outbox_oldest_age_seconds", ())] == 0
    # The three needs were group-committed (one after the other here: a transaction each).
    assert after[("sifang_group_commit_writes_total", ())] == 3
    assert 1 <= after[("sifang_group_commit_transactions_total", ())] <= 3

    consumer = (("consumer", "coordinator"),)
    seen = _eventually(
        lambda: (s := scrape(hub)).get(("sifang_consumer_settled_total", consumer), 0) >= 4 and s
    )
    assert seen[("sifang_consumer_settled_total", consumer)] == 4
    assert seen[("sifang_consumer_redelivered_total", consumer)] == 0
    assert seen[("sifang_consumer_pending", consumer)] == 0
    # Each need re-solved its partition, timed; nothing is held; the webhook's deliveries wait.
    assert seen[("sifang_match_solve_seconds_count", ())] >= 3
    assert seen[("sifang_held_events", ())] == 0
    hook = webhook.json()["id"]
    waiting = _eventually(
        lambda: scrape(hub).get(("sifang_webhook_queue", (("url", closed), ("webhook", hook))))
    )
    assert waiting >= 1

    # An event whose organisation was never registered is held, and counted.
    subject, envelope = factories.need_published(new_event_id())
    asyncio.run(_publish(nats_server.url, subject, envelope))
    held = _eventually(lambda: scrape(hub)[("sifang_held_events", ())] == 1 and scrape(hub))
    assert held[("sifang_held_events_oldest_age_seconds", ())] >= 0


async def _publish(url: str, subject: str, envelope: CloudEvent) -> None:
    link = NatsLink(url, "metrics-test")
    js = await link.jetstream()
    await js.publish(subject, envelope.to_json(), headers={"Nats-Msg-Id": envelope.id})
    await link.close()
