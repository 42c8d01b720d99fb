"""The coordinator's read API, fed by its own consumer from a real nats-server."""

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.coordinator.app import CoordinatorSettings, create_app
from shared.events.data import OfferData
from shared.events.envelope import new_event_id
from shared.events.subjects import subject_for
from shared.messaging.nats import NatsLink
from sifang.platform import LocalNats
from tests import factories

ADMIN = {"Authorization": "Bearer coordinator-admin-token-0123"}


@pytest.fixture
def coordinator(service_database: Callable[[str], str], nats_server: LocalNats) -> Iterator[TestClient]:
    settings = CoordinatorSettings(
        database_url=service_database("coordinator"),
        nats_url=nats_server.url,
        admin_token="coordinator-admin-token-0123",
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _eventually(probe: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        if time.monotonic() > deadline:
            raise AssertionError("not seen in time")
        time.sleep(0.05)
    return result


async def _publish(nats_server: LocalNats, *events: tuple[str, Any]) -> None:
    link = NatsLink(nats_server.url, "test-publisher")  # provisions the stream if not there yet
    js = await link.jetstream()
    for subject, envelope in events:
        await js.publish(subject, envelope.to_json(), headers={"Nats-Msg-Id": envelope.id})
    await link.close()


async def test_filters_narrow_the_book_by_category_region_kind_and_status(
    coordinator: TestClient, nats_server: LocalNats
) -> None:
    village, enterprise = new_event_id(), new_event_id()
    kept, dropped = new_event_id(), new_event_id()
    lot = factories.offer_data(village)
    elsewhere = factories.event(
        "enterprise",
        enterprise,
        "offer",
        "published",
        OfferData(
            **(
                factories.offer_data(enterprise).model_dump()
                | {"category": "logistics.cold_chain", "region": "610125", "unit": "t"}
            )
        ),
        region="610125",
    )
    await _publish(
        nats_server,
        factories.registered(village),
        factories.registered(enterprise, kind="enterprise", name="秦农电商"),
        factories.need_published(village, kept),
        factories.need_published(village, dropped),
        factories.need_withdrawn(village, dropped),
        factories.event("community", village, "offer", "published", lot),
        elsewhere,
    )
    _eventually(lambda: len(coordinator.get("/events", headers=ADMIN).json()) == 7)

    def ids(path: str, **params: str) -> list[str]:
        response = coordinator.get(path, headers=ADMIN, params=params)
        assert response.status_code == 200, response.text
        return [row["id"] for row in response.json()]

    assert ids("/needs", status="open") == [kept]
    assert ids("/needs", status="withdrawn") == [dropped]
    assert ids("/offers", category="produce") == [lot.offer_id]
    assert ids("/offers", category="produce.fruit") == [lot.offer_id]
    assert ids("/offers", region="610125") == [elsewhere[1].subject]
    assert set(ids("/offers", region="610100")) == {lot.offer_id, elsewhere[1].subject}
    assert ids("/offers", kind="enterprise") == [elsewhere[1].subject]
    assert ids("/organisations", kind="enterprise") == [enterprise]
    assert len(ids("/needs", region="610124104201")) == 2

    withdrawn = coordinator.get("/needs", headers=ADMIN, params={"status": "withdrawn"}).json()[0]
    assert withdrawn["withdrawn_reason"] == "已找到培训"
    events = coordinator.get("/events", headers=ADMIN, params={"entity_id": dropped}).json()
    assert [e["type"] for e in events] == ["sifang.need.published.v1", "sifang.need.withdrawn.v1"]
    page = coordinator.get("/events", headers=ADMIN, params={"after_sequence": 5}).json()
    assert [e["stream_sequence"] for e in page] == [6, 7]


def test_bad_filters_are_refused_naming_the_parameter(coordinator: TestClient) -> None:
    for params, field in (
        ({"region": "61"}, "region"),
        ({"status": "lost"}, "status"),
        ({"kind": "alien"}, "kind"),
        ({"limit": "0"}, "limit"),
    ):
        response = coordinator.get("/needs", headers=ADMIN, params=params)
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == field
    assert coordinator.get("/needs").status_code == 401
    assert coordinator.get("/healthz").json()["status"] == "ok"


def test_dead_letters_are_listed_with_their_reason(coordinator: TestClient, nats_server: LocalNats) -> None:
    import asyncio

    async def publish_garbage() -> None:
        link = NatsLink(nats_server.url, "test-publisher")
        js = await link.jetstream()
        await js.publish(subject_for("community", "610124", "need", "published"), b"nonsense")
        await link.close()

    asyncio.run(publish_garbage())
    letters = _eventually(lambda: coordinator.get("/dead-letters", headers=ADMIN).json())
    assert letters[0]["payload"] == "nonsense"
    assert "not a valid CloudEvent" in letters[0]["reason"]
