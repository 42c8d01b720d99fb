"""Paging parameters are bounded by the schema: out of range is a 422 naming the parameter, on
every listing of the coordinator, on each database backend (a database would fail on them)."""

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from services.coordinator.app import CoordinatorSettings, create_app
from shared.paging import MAX_LIMIT, MAX_POSITION
from sifang.platform import LocalNats

ADMIN = {"Authorization": "Bearer coordinator-admin-token-0123"}

# Every listing endpoint with a paging parameter, and those parameters.
PAGED = [
    ("/organisations", "limit"),
    ("/organisations", "offset"),
    ("/needs", "limit"),
    ("/needs", "offset"),
    ("/offers", "limit"),
    ("/offers", "offset"),
    ("/matches", "limit"),
    ("/matches", "offset"),
    ("/dead-letters", "limit"),
    ("/dead-letters", "offset"),
    ("/events", "limit"),
    ("/events", "after_sequence"),
]
HUGE = str(10**30)


@pytest.fixture
def coordinator(service_database: Callable[[str], str], nats_server: LocalNats) -> Iterator[TestClient]:
    settings = CoordinatorSettings(
        database_url=service_database("coordinator"),
        nats_url=nats_server.url,
        admin_token="coordinator-admin-token-0123",
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _refused(client: TestClient, path: str, field: str, value: str) -> None:
    response = client.get(path, headers=ADMIN, params={field: value})
    assert response.status_code == 422, (path, field, value, response.text)
    body = response.json()
    assert body["error"] == "validation_failed"
    assert [e["field"] for e in body["errors"]] == [field], body
    assert field in body["message"]


def test_out_of_range_paging_is_refused_naming_the_parameter(coordinator: TestClient) -> None:
    for path, field in PAGED:
        for value in (HUGE, "-1", str(MAX_POSITION + 1 if field != "limit" else MAX_LIMIT + 1)):
            _refused(coordinator, path, field, value)
        low = "0" if field == "limit" else "-5"
        _refused(coordinator, path, field, low)


def test_in_range_paging_still_answers(coordinator: TestClient) -> None:
    for path, field in PAGED:
        for value in ("1", "50", str(MAX_LIMIT if field == "limit" else MAX_POSITION)):
            response = coordinator.get(path, headers=ADMIN, params={field: value})
            assert response.status_code == 200, (path, field, value, response.text)
            assert response.json() == []
    both = coordinator.get("/needs", headers=ADMIN, params={"limit": "10", "offset": "20"})
    assert both.status_code == 200 and both.json() == []


def test_agenda_versions_are_bounded_too(coordinator: TestClient) -> None:
    for value in (HUGE, "0", "-1"):
        _refused(coordinator, "/meetings/m-1/agenda", "version", value)
    missing = coordinator.get("/meetings/m-1/agenda", headers=ADMIN, params={"version": "3"})
    assert missing.status_code == 404, missing.text


def test_webhook_delivery_log_limit_is_bounded(coordinator: TestClient) -> None:
    for value in (HUGE, "0", "-1"):
        _refused(coordinator, "/webhooks/w-1/deliveries", "limit", value)


def test_stream_resume_position_is_bounded(coordinator: TestClient) -> None:
    for value in (HUGE, "-1"):
        _refused(coordinator, "/stream", "after", value)
