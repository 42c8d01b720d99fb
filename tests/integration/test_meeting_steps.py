"""A coordinator's meeting steps travel through the stream: applied by the consumer, with ids
derived from the instruction, immediate refusals still naming their field, and a 202 when the
coordinator cannot apply the step in time (it then takes effect once it can)."""

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from services.coordinator.app import CoordinatorSettings, create_app
from services.coordinator.journal.models import EventLogEntry
from services.coordinator.meetings.models import Meeting, MeetingSeries
from services.coordinator.registry.models import RegisteredOrganisation
from shared.db import make_engine
from shared.events.envelope import CONTENT_TYPE
from shared.messaging.nats import STREAM_NAME, NatsLink
from sifang.platform import LocalNats
from tests import factories

ADMIN = {"Authorization": "Bearer steps-admin-token-0123456789"}
ORGS = {"village": "community", "bureau": "government", "shop": "enterprise", "ngo": "ngo"}


def _wait(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


@pytest.fixture
def coordinator(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> Iterator[tuple[TestClient, str]]:
    url = service_database("coordinator")

    async def register() -> None:
        link = NatsLink(nats_server.url, "test-registrar")
        js = await link.jetstream()
        for org, kind in ORGS.items():
            subject, event = factories.registered(org, kind=kind)
            await js.publish(
                subject, event.to_json(), stream=STREAM_NAME, headers={"Content-Type": CONTENT_TYPE}
            )
        await link.close()

    asyncio.run(register())
    settings = CoordinatorSettings(
        database_url=url, nats_url=nats_server.url, admin_token=ADMIN["Authorization"][7:]
    )
    with TestClient(create_app(settings)) as client:
        engine = make_engine(url)

        def registered() -> bool:
            with Session(engine) as session:
                return session.query(RegisteredOrganisation).count() == len(ORGS)

        _wait(registered)
        engine.dispose()
        yield client, url


def test_steps_are_applied_from_the_stream_and_refusals_name_their_field(
    coordinator: tuple[TestClient, str],
) -> None:
    client, url = coordinator
    body = {"name": "周至县联席会议", "kind": "joint", "region": "610124", "invited": list(ORGS)}
    created = client.post("/series", json=body, headers=ADMIN | {"X-Coordinator": "li"})
    assert created.status_code == 201, created.text
    series_id = created.json()["id"]
    refused = client.post("/series", json=body | {"invited": ["nobody"]}, headers=ADMIN)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "invited"
    starts = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    scheduled = client.post(
        f"/series/{series_id}/meetings", json={"title": "十二月联席会议", "starts_at": starts}, headers=ADMIN
    )
    assert scheduled.status_code == 201, scheduled.text
    engine = make_engine(url)
    with Session(engine) as session:
        steps = [
            (e.data["action"], e.data["target"])
            for e in session.query(EventLogEntry)
            .where(EventLogEntry.type == "sifang.instruction.issued.v1")
            .order_by(EventLogEntry.position)
        ]
        assert steps == [("create_series", ""), ("schedule_meeting", series_id)]
        series = session.get(MeetingSeries, series_id)
        assert series is not None and series.name == "周至县联席会议"
        meeting = session.get(Meeting, scheduled.json()["id"])
        assert meeting is not None and meeting.series_id == series_id
        # The meeting's own event is caused by the instruction, with an id derived from it.
        announced = (
            session.query(EventLogEntry).where(EventLogEntry.type == "sifang.meeting.scheduled.v1").one()
        )
        instruction = (
            session.query(EventLogEntry).where(EventLogEntry.entity_id == announced.causation_id).one()
        )
        assert instruction.data["action"] == "schedule_meeting"
        assert announced.position > instruction.position
    engine.dispose()


def test_a_step_the_coordinator_cannot_apply_in_time_is_accepted_and_applied_later(
    coordinator: tuple[TestClient, str], nats_server: LocalNats
) -> None:
    client, url = coordinator
    body = {"name": "谈判会", "kind": "negotiation", "region": "610124", "invited": ["village", "shop"]}
    nats_server.stop()
    try:
        pending = client.post("/series", json=body, headers=ADMIN)
        assert pending.status_code == 202, pending.text
        assert pending.json()["error"] == "accepted" and "takes effect" in pending.json()["message"]
    finally:
        nats_server.start()
    engine = make_engine(url)

    def applied() -> bool:
        with Session(engine) as session:
            return session.query(MeetingSeries).where(MeetingSeries.name == "谈判会").count() == 1

    _wait(applied, timeout=40)
    engine.dispose()
