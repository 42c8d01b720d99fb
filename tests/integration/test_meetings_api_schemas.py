"""The meetings API in the coordinator's OpenAPI document: every JSON operation has a typed
response schema, real responses validate against it and keep their JSON (times with ``+00:00``,
no ``head`` on a broken chain); and a decision's outcome and positions are checked by the domain
function itself, whoever calls it."""

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from services.coordinator.app import CoordinatorSettings, create_app
from services.coordinator.bus import Command, InTransaction
from services.coordinator.meetings import handlers
from services.coordinator.meetings.agendas import compile_meeting_agenda, publish_agenda
from services.coordinator.meetings.commands import DecisionCreate
from services.coordinator.meetings.models import AgendaProposal, MeetingRecord
from services.coordinator.meetings.proceedings import close_meeting, record_attendance, record_decision
from services.coordinator.meetings.series import create_series, schedule_meeting
from services.coordinator.projection import CoordinatorProjection
from shared.db import make_engine
from shared.errors import InvalidInput
from shared.events.validation import check_event
from shared.messaging.consumer import Delivery
from sifang.platform import LocalNats
from tests import factories

TOKEN = "meetings-schema-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
ORGS = {"bureau": "government", "firm": "enterprise", "station": "ngo", "east": "community"}
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NOT_JSON = (".md", ".html", ".csv", ".ics")


def _settings(url: str, nats_url: str = "nats://127.0.0.1:1") -> CoordinatorSettings:
    return CoordinatorSettings(database_url=url, nats_url=nats_url, admin_token=TOKEN)


def _meetings_operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "meetings" in operation.get("tags", []) and not path.endswith(NOT_JSON)
    }


def _success_schema(operation: dict[str, Any]) -> dict[str, Any]:
    (code,) = [c for c in operation["responses"] if c.startswith("2")]
    return dict(operation["responses"][code]["content"]["application/json"]["schema"])


def test_every_meetings_json_operation_has_a_typed_response_schema(
    service_database: Callable[[str], str],
) -> None:
    document = create_app(_settings(service_database("coordinator"))).openapi()
    operations = _meetings_operations(document)
    assert len(operations) == 17, sorted(operations)
    for (method, path), operation in operations.items():
        schema = _success_schema(operation)
        target = schema.get("items", {}) if schema.get("type") == "array" else schema
        assert "$ref" in target, f"{method.upper()} {path} has no response schema: {schema}"
        name = target["$ref"].rsplit("/", 1)[-1]
        assert document["components"]["schemas"][name]["properties"], name
    names = {
        _success_schema(operations[("get", "/meetings/{meeting_id}")])["$ref"],
        _success_schema(operations[("get", "/meetings/{meeting_id}/record")])["$ref"],
        _success_schema(operations[("post", "/meetings/{meeting_id}/decisions")])["$ref"],
    }
    assert names == {
        "#/components/schemas/MeetingDetail",
        "#/components/schemas/RecordWithChain",
        "#/components/schemas/DecisionRead",
    }


@pytest.fixture
def sessions(service_database: Callable[[str], str]) -> Iterator[tuple[str, sessionmaker[Session]]]:
    url = service_database("coordinator")
    engine = make_engine(url)
    yield url, sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def _register(sessions: sessionmaker[Session]) -> None:
    projection = CoordinatorProjection()
    for sequence, org in enumerate(ORGS, start=1):
        subject, envelope = factories.registered(org, kind=ORGS[org], name=org)
        payload = envelope.to_json()
        with sessions() as session:
            projection(session, check_event(subject, payload), Delivery(subject, payload, {}, sequence, 1))
            session.commit()


def _held_meeting(sessions: sessionmaker[Session]) -> tuple[str, str]:
    """A series and a meeting with a published agenda (one proposal) and everyone present."""
    _register(sessions)
    with sessions() as session:
        series = create_series(
            session,
            name="周至县电商联席会议",
            kind="joint",
            region="610124",
            cadence="monthly",
            duration_minutes=120,
            invited=list(ORGS),
            quorum_kinds=["government", "enterprise", "ngo", "community"],
            now=T0,
        )
        meeting = schedule_meeting(
            session,
            series,
            title="十一月联席会议",
            starts_at=T0 + timedelta(days=28),
            duration_minutes=None,
            location="县电商服务中心",
            cutoff_hours=48,
            now=T0,
        )
        session.add(
            AgendaProposal(
                id="prop-1",
                source="proposal",
                organisation_id="firm",
                series_id=series.id,
                region="610124",
                title="共建县域品牌",
                description="",
                details={},
                status="pending",
                raised_at=T0,
            )
        )
        session.flush()
        compile_meeting_agenda(session, meeting.id, as_of=T0 + timedelta(days=26), made_by="t")
        publish_agenda(session, meeting.id, now=T0 + timedelta(days=26))
        for org in ORGS:
            record_attendance(session, meeting.id, org, present=True, representative="")
        session.commit()
        return series.id, meeting.id


def _validate(document: dict[str, Any], method: str, path: str, body: Any) -> None:
    schema = _success_schema(document["paths"][path][method]) | {"components": document["components"]}
    Draft202012Validator(schema).validate(body)


def test_real_responses_validate_against_their_schemas_and_keep_their_json(
    sessions: tuple[str, sessionmaker[Session]], nats_server: LocalNats
) -> None:
    url, factory = sessions
    series_id, meeting_id = _held_meeting(factory)
    with factory() as session:
        record_decision(
            session,
            meeting_id,
            item_key="proposal:prop-1",
            outcome="approved",
            positions=[{"organisation_id": "firm", "position": "agree", "reason": ""}],
            minutes="",
            actions=[{"owner_organisation_id": "firm", "title": "提交方案", "due_date": date(2026, 12, 10)}],
            recorded_by="t",
            now=T0 + timedelta(days=28),
        )
        close_meeting(session, meeting_id, minutes="会议顺利结束", now=T0 + timedelta(days=28))
        session.commit()
    with TestClient(create_app(_settings(url, nats_server.url))) as client:
        document = client.get("/openapi.json").json()
        reads = {
            "/series/{series_id}": f"/series/{series_id}",
            "/meetings/{meeting_id}": f"/meetings/{meeting_id}",
            "/meetings/{meeting_id}/agenda": f"/meetings/{meeting_id}/agenda",
            "/meetings/{meeting_id}/record": f"/meetings/{meeting_id}/record",
            "/actions": "/actions",
        }
        bodies = {}
        for template, path in reads.items():
            response = client.get(path, headers=ADMIN)
            assert response.status_code == 200, response.text
            _validate(document, "get", template, response.json())
            bodies[template] = response.json()
        meeting = bodies["/meetings/{meeting_id}"]
        assert meeting["starts_at"] == "2026-11-30T09:00:00+00:00"  # as before: isoformat, not "Z"
        assert meeting["quorum"]["met"] and len(meeting["invitations"]) == 4
        chain = bodies["/meetings/{meeting_id}/record"]["chain"]
        assert set(chain) == {"valid", "records", "broken_at", "head"} and chain["valid"]
        assert bodies["/series/{series_id}"]["history"][0]["starts_at"] == "2026-11-30T09:00:00+00:00"
        assert bodies["/actions"][0]["title"] == "提交方案"
        (item,) = bodies["/meetings/{meeting_id}/agenda"]["items"]
        assert (item["reason_code"], item["priority_rule_code"]) == ("agenda_proposal", "priority_proposal")
        assert item["reason_text"] == {"zh": "组织提议的议题", "en": "proposed by an organisation"}
        assert item["priority_rule_text"] == {"zh": "组织提议：60", "en": "60 for a proposal"}

        with factory() as session:  # tamper with the stored minutes
            session.execute(
                update(MeetingRecord).where(MeetingRecord.meeting_id == meeting_id).values(content={"x": 1})
            )
            session.commit()
        broken = client.get(f"/meetings/{meeting_id}/record", headers=ADMIN).json()
        assert broken["chain"] == {"valid": False, "records": 1, "broken_at": 1}  # no head, as before
        _validate(document, "get", "/meetings/{meeting_id}/record", broken)
        detail = client.get(f"/series/{series_id}", headers=ADMIN).json()
        assert detail["record_chain"] == {"valid": False, "records": 1, "broken_at": 1}


def test_a_decision_with_an_unknown_outcome_or_position_is_refused_by_the_domain(
    sessions: tuple[str, sessionmaker[Session]],
) -> None:
    _, factory = sessions
    _, meeting_id = _held_meeting(factory)
    with factory() as session:
        with pytest.raises(InvalidInput) as outcome:
            record_decision(
                session,
                meeting_id,
                item_key="proposal:prop-1",
                outcome="vetoed",
                positions=[],
                minutes="",
                actions=[],
                recorded_by="t",
                now=T0,
            )
        assert outcome.value.field == "outcome"
        with pytest.raises(InvalidInput) as position:
            record_decision(
                session,
                meeting_id,
                item_key="proposal:prop-1",
                outcome="deferred",
                positions=[
                    {"organisation_id": "firm", "position": "agree"},
                    {"organisation_id": "east", "position": "maybe"},
                ],
                minutes="",
                actions=[],
                recorded_by="t",
                now=T0,
            )
        assert position.value.field == "positions.1.position"
        # The handler path: a command that skipped the pydantic checks is refused all the same.
        body = DecisionCreate.model_construct(
            item_key="proposal:prop-1", outcome="vetoed", positions=[], minutes="", actions=[]
        )
        with pytest.raises(InvalidInput) as handled:
            handlers.record_decision(Command(body, meeting_id, "t", T0), InTransaction(session))
        assert handled.value.field == "outcome"
