"""Cross-sector projects in the coordinator, on each backend: a party proposes one and the
others answer through the stream; only members who joined report progress, only the lead
closes; a joint meeting's decision starts one; milestones past due fall overdue at the clock's
tick and come back on the next meeting's agenda; a budget line draws on a special fund's share,
never beyond its amount; a replay reproduces every project exactly."""

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.coordinator.bus import Command, InTransaction
from services.coordinator.clock import due_work
from services.coordinator.journal.service import Cause, begin_cause, end_cause
from services.coordinator.meetings.agendas import compile_meeting_agenda
from services.coordinator.meetings.commands import DecisionCreate
from services.coordinator.meetings.handlers import record_decision
from services.coordinator.meetings.models import MeetingSeries
from services.coordinator.meetings.proceedings import record_attendance
from services.coordinator.meetings.series import schedule_meeting
from services.coordinator.projects.models import Project
from services.coordinator.projects.service import mark_overdue
from shared.db import make_engine
from shared.errors import InvalidInput
from shared.events.catalogue import CATALOGUE
from shared.events.data import (
    EventData,
    FundAllocated,
    FundDisbursed,
    FundOpened,
    FundShare,
    FundTrancheReceived,
    ProjectAnswered,
    ProjectClosed,
    ProjectData,
    ProjectProgressed,
    ProjectProposed,
)
from shared.events.envelope import CloudEvent, new_event_id
from shared.messaging.consumer import EventRejected
from shared.messaging.models import OutboxMessage
from sifang.replay_compare import COORDINATOR_TABLES, compare_databases
from tests import factories
from tests.integration.streams import Stream
from tests.integration.test_meetings import ORGS, T0, _held_meeting


@pytest.fixture
def sessions(service_database: Callable[[str], str]) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(service_database("coordinator"))
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


KINDS = {"east": "community", "station": "ngo", "firm": "enterprise", "bureau": "government"}
COUNTY = "610124"


def _event(org: str, entity: str, verb: str, data: EventData) -> tuple[str, bytes]:
    subject, envelope = CATALOGUE[f"sifang.{entity}.{verb}.v1"].build(
        kind=KINDS[org], organisation_id=org, region=COUNTY, data=data
    )
    return subject, envelope.to_json()


def _registered() -> list[tuple[str, bytes]]:
    return [
        (subject, envelope.to_json())
        for subject, envelope in (
            factories.registered(org, kind=kind, name=org) for org, kind in KINDS.items()
        )
    ]


def _proposal(project_id: str = "p1", lines: list[dict[str, Any]] | None = None) -> ProjectProposed:
    return ProjectProposed.model_validate(
        {
            "project_id": project_id,
            "organisation_id": "east",
            "title": "公益助农直播节",
            "region": "610124104",
            "members": [
                {"organisation_id": "east", "role": "供货"},
                {"organisation_id": "station", "role": "社工陪伴"},
                {"organisation_id": "firm", "role": "直播运营"},
            ],
            "milestones": [
                {"milestone_id": "m1", "title": "调研", "due_date": "2026-12-01"},
                {"milestone_id": "m2", "title": "直播节", "due_date": "2027-01-15"},
            ],
            "budget_lines": lines or [],
        }
    )


def _states(stream: Stream) -> list[ProjectData]:
    with stream.sessions() as session:
        payloads = session.scalars(
            select(OutboxMessage.payload)
            .where(OutboxMessage.event_type.in_(["sifang.project.updated.v1", "sifang.project.overdue.v1"]))
            .order_by(OutboxMessage.id)
        ).all()
    return [ProjectData.model_validate(CloudEvent.model_validate_json(p).data) for p in payloads]


def _refused(stream: Stream, event: tuple[str, bytes], message: str) -> None:
    with pytest.raises(EventRejected, match=re.escape(message)):
        stream.apply(*event)


def test_a_party_proposes_the_others_answer_and_only_members_report_and_the_lead_closes(
    service_database: Callable[[str], str],
) -> None:
    stream = Stream(service_database("coordinator"))
    for event in _registered():
        stream.apply(*event)
    # the station's answer overtakes the proposal on the stream: it waits for it
    stream.apply(
        *_event(
            "station",
            "project",
            "answered",
            ProjectAnswered(project_id="p1", organisation_id="station", answer="join"),
        )
    )
    assert _states(stream) == []
    stream.apply(*_event("east", "project", "proposed", _proposal()))
    first, second = _states(stream)
    assert (first.status, first.status_reason["code"], first.version) == ("proposed", "project_waiting", 1)
    assert first.status_reason["params"] == {"pending": ["station", "firm"]}
    assert (second.status, second.version) == ("active", 2)  # community and ngo have joined
    assert second.concerns == ["east", "firm", "station"]

    stream.apply(
        *_event(
            "firm",
            "project",
            "answered",
            ProjectAnswered(project_id="p1", organisation_id="firm", answer="decline", reason="档期冲突"),
        )
    )
    _refused(
        stream,
        _event(
            "firm",
            "project",
            "answered",
            ProjectAnswered(project_id="p1", organisation_id="firm", answer="join"),
        ),
        "has answered already (declined)",
    )
    report = ProjectProgressed(
        progress_id=new_event_id(),
        project_id="p1",
        organisation_id="station",
        milestone_id="m1",
        status="in_progress",
        note="走访了 12 户",
    )
    stream.apply(*_event("station", "project", "progressed", report))
    _refused(
        stream,
        _event(
            "firm",
            "project",
            "progressed",
            report.model_copy(update={"organisation_id": "firm", "progress_id": new_event_id()}),
        ),
        "has not joined the project",
    )
    _refused(
        stream,
        _event(
            "bureau",
            "project",
            "progressed",
            report.model_copy(update={"organisation_id": "bureau", "progress_id": new_event_id()}),
        ),
        "is not a member of the project",
    )
    _refused(
        stream,
        _event(
            "station",
            "project",
            "progressed",
            report.model_copy(update={"milestone_id": "m9", "progress_id": new_event_id()}),
        ),
        "no milestone 'm9'",
    )
    closing = ProjectClosed(project_id="p1", organisation_id="station", outcome="completed", report="结项")
    _refused(stream, _event("station", "project", "closed", closing), "only the project's lead closes it")
    stream.apply(*_event("east", "project", "closed", closing.model_copy(update={"organisation_id": "east"})))
    _refused(
        stream,
        _event("station", "project", "progressed", report.model_copy(update={"progress_id": new_event_id()})),
        "the project is completed",
    )

    states = _states(stream)
    assert [s.version for s in states] == list(range(1, len(states) + 1))
    final = states[-1]
    assert (final.status, final.closing and final.closing["report"]) == ("completed", "结项")
    assert [(m["organisation_id"], m["answer"]) for m in final.members] == [
        ("east", "joined"),
        ("station", "joined"),
        ("firm", "declined"),
    ]
    assert (
        final.milestones[0]["status"] == "in_progress"
        and final.milestones[0]["progress"][0]["note"] == "走访了 12 户"
    )

    replayed = Stream(service_database("coordinator"))
    for subject, payload in stream.applied:
        replayed.apply(subject, payload)
    differences = compare_databases(stream.url, replayed.url, {"projects": COORDINATOR_TABLES["projects"]})
    assert all(table["identical"] for table in differences.values()), differences


def _decided(sessions: sessionmaker[Session], plan: dict[str, Any], outcome: str = "approved") -> str:
    meeting_id = _held_meeting(sessions)
    with sessions() as session:
        for org in ORGS:
            record_attendance(session, meeting_id, org, present=True, representative="")
        body = DecisionCreate.model_validate(
            {"item_key": "proposal:prop-1", "outcome": outcome, "projects": [plan]}
        )
        cause = new_event_id()
        begin_cause(session, Cause(cause, cause, T0 + timedelta(days=28)))
        record_decision(Command(body, meeting_id, "t", T0 + timedelta(days=28)), InTransaction(session))
        end_cause(session)
        session.commit()
    return meeting_id


PLAN = {
    "title": "县域公共品牌共建",
    "region": COUNTY,
    "members": [{"organisation_id": "firm", "role": "品牌设计"}, {"organisation_id": "east", "role": "供货"}],
    "milestones": [
        {"milestone_id": "design", "title": "品牌方案", "due_date": "2026-12-10"},
        {"milestone_id": "launch", "title": "发布", "due_date": "2027-02-01"},
    ],
}


def test_a_decided_project_starts_active_and_its_overdue_milestones_come_to_the_next_agenda(
    sessions: sessionmaker[Session],
) -> None:
    _decided(sessions, PLAN)
    with sessions() as session:
        (project,) = session.scalars(select(Project)).all()
        assert (project.status, project.lead_organisation_id, project.series_id) == (
            "active",
            "firm",
            "series-1",
        )
        assert project.origin["kind"] == "decision"
        # the clock ticks for it once a milestone is past its date
        assert "project milestones overdue" not in due_work(
            session, datetime(2026, 12, 10, 23, tzinfo=UTC), timedelta(hours=1)
        )
        assert "project milestones overdue" in due_work(
            session, datetime(2026, 12, 11, tzinfo=UTC), timedelta(hours=1)
        )
        tick = new_event_id()
        begin_cause(session, Cause(tick, tick, datetime(2026, 12, 11, tzinfo=UTC)))
        assert mark_overdue(session, date(2026, 12, 10)) == []
        assert [p.id for p in mark_overdue(session, date(2026, 12, 11))] == [project.id]
        assert mark_overdue(session, date(2026, 12, 12)) == []  # overdue once
        end_cause(session)
        assert [m["status"] for m in project.milestones] == ["overdue", "open"]
        assert project.next_due == date(2027, 2, 1)  # the clock need not tick for it again
        series = session.get(MeetingSeries, "series-1")
        assert series is not None
        meeting = schedule_meeting(
            session,
            series,
            title="十二月联席会议",
            starts_at=datetime(2026, 12, 28, 9, tzinfo=UTC),
            duration_minutes=None,
            location="",
            cutoff_hours=48,
            now=datetime(2026, 12, 11, tzinfo=UTC),
        )
        agenda = compile_meeting_agenda(
            session, meeting.id, as_of=datetime(2026, 12, 26, tzinfo=UTC), made_by="t"
        )
        session.commit()
        carried = [i for i in agenda.items if i["source"] == "overdue_milestone"]
        assert [(i["title"], i["priority"], i["reason_code"]) for i in carried] == [
            ("县域公共品牌共建 · 品牌方案", 80, "agenda_overdue_milestone")  # 70 + 10 (16 days, capped)
        ]
        types = [row.event_type for row in session.scalars(select(OutboxMessage))]
    assert types.count("sifang.project.overdue.v1") == 1


@pytest.mark.parametrize(
    ("plan", "outcome", "field"),
    [
        (
            {
                **PLAN,
                "members": [
                    {"organisation_id": "east", "role": "a"},
                    {"organisation_id": "west", "role": "b"},
                ],
            },
            "approved",
            "projects.members",
        ),
        (
            {
                **PLAN,
                "members": [
                    {"organisation_id": "east", "role": "a"},
                    {"organisation_id": "ghost", "role": "b"},
                ],
            },
            "approved",
            "projects.members",
        ),
        (PLAN, "deferred", "projects"),
    ],
    ids=["one kind", "unregistered", "not approved"],
)
def test_a_decision_starts_no_project_of_one_kind_nor_unregistered_members_nor_unapproved(
    sessions: sessionmaker[Session], plan: dict[str, Any], outcome: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        _decided(sessions, plan, outcome)
    assert refused.value.field == field


def test_a_budget_line_draws_on_a_fund_share_never_beyond_its_amount(
    service_database: Callable[[str], str],
) -> None:
    stream = Stream(service_database("coordinator"))
    for event in _registered():
        stream.apply(*event)
    fund = FundOpened(
        fund_id="f1",
        organisation_id="bureau",
        version=1,
        name="专项资金",
        fiscal_year=2026,
        region=COUNTY,
        shares=[
            FundShare(share="social_work", name="社会工作", purpose="social_work", amount=Decimal(500000)),
            FundShare(
                share="ecommerce", name="电商", purpose="ecommerce_infrastructure", amount=Decimal(500000)
            ),
        ],
    )
    stream.apply(*_event("bureau", "fund", "opened", fund))
    tranche = FundTrancheReceived(
        fund_id="f1",
        organisation_id="bureau",
        version=2,
        tranche_id="t1",
        received_on=date(2026, 3, 1),
        amounts={"social_work": Decimal(100000)},
    )
    stream.apply(*_event("bureau", "fund", "tranche_received", tranche))
    lines = [
        {"line": "training", "title": "培训", "amount": "60000", "fund_id": "f1", "share": "social_work"},
        {"line": "elsewhere", "title": "别处", "amount": "1", "fund_id": "f-unknown", "share": "x"},
    ]
    stream.apply(*_event("east", "project", "proposed", _proposal(lines=lines)))
    stream.apply(
        *_event(
            "station",
            "project",
            "answered",
            ProjectAnswered(project_id="p1", organisation_id="station", answer="join"),
        )
    )
    proposed = _states(stream)[-1]
    assert proposed.concerns == ["bureau", "east", "firm", "station"]  # the fund's owner too
    assert [line["fund_status"]["code"] for line in proposed.budget_lines] == [
        "line_fund_ok",
        "line_fund_unknown",
    ]

    def allocation(version: int, amount: str, **extra: Any) -> tuple[str, bytes]:
        data = FundAllocated.model_validate(
            {
                "fund_id": "f1",
                "organisation_id": "bureau",
                "version": version,
                "allocation_id": f"a{version}",
                "share": "social_work",
                "amount": amount,
                "allocated_on": "2026-04-01",
                "township": "610124104",
                "purpose": "培训",
                "project_id": "p1",
                "budget_line": "training",
            }
            | extra
        )
        return _event("bureau", "fund", "allocated", data)

    stream.apply(*allocation(3, "40000"))
    _refused(stream, allocation(4, "20000.01"), "can take 20,000.00 yuan more, not 20,000.01")
    _refused(stream, allocation(4, "1", share="ecommerce"), "draws on fund f1 share social_work")
    _refused(stream, allocation(4, "1", budget_line="promotion"), "no budget line 'promotion'")
    paid = FundDisbursed(
        fund_id="f1",
        organisation_id="bureau",
        version=4,
        disbursement_id="d1",
        allocation_id="a3",
        amount=Decimal(10000),
        paid_on=date(2026, 5, 1),
        evidence=[{"kind": "invoice", "reference": "FP-1"}],
    )  # type: ignore[list-item]
    stream.apply(*_event("bureau", "fund", "disbursed", paid))
    line = _states(stream)[-1].budget_lines[0]
    assert (line["allocated"], line["paid"]) == ("40000.00", "10000.00")

    replayed = Stream(service_database("coordinator"))
    for subject, payload in stream.applied:
        replayed.apply(subject, payload)
    tables = {name: COORDINATOR_TABLES[name] for name in ("projects", "ledger_fund_allocations")}
    differences = compare_databases(stream.url, replayed.url, tables)
    assert all(table["identical"] for table in differences.values()), differences


def test_a_budget_line_naming_a_fund_not_yet_known_learns_its_owner_when_the_fund_opens(
    service_database: Callable[[str], str],
) -> None:
    stream = Stream(service_database("coordinator"))
    for event in _registered():
        stream.apply(*event)
    lines = [
        {"line": "training", "title": "培训", "amount": "60000", "fund_id": "f1", "share": "social_work"}
    ]
    stream.apply(*_event("east", "project", "proposed", _proposal(lines=lines)))
    assert _states(stream)[-1].budget_lines[0]["fund_status"]["code"] == "line_fund_unknown"
    fund = FundOpened(
        fund_id="f1",
        organisation_id="bureau",
        version=1,
        name="专项资金",
        fiscal_year=2026,
        region=COUNTY,
        shares=[
            FundShare(share="social_work", name="社会工作", purpose="social_work", amount=Decimal(500000))
        ],
    )
    stream.apply(*_event("bureau", "fund", "opened", fund))
    latest = _states(stream)[-1]
    assert latest.budget_lines[0]["fund_organisation_id"] == "bureau"
    assert latest.budget_lines[0]["fund_status"]["code"] == "line_fund_ok"
    assert "bureau" in latest.concerns  # the fund's owner now receives the project
