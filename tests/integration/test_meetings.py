"""Joint meetings in the coordinator, with a controllable clock, on each database backend."""

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from services.coordinator.book.models import BookNeed
from services.coordinator.journal.service import Cause, begin_cause, end_cause
from services.coordinator.meetings import queries
from services.coordinator.meetings.agendas import compile_meeting_agenda, edit_agenda, publish_agenda
from services.coordinator.meetings.follow_up import mark_overdue, report_progress, series_history
from services.coordinator.meetings.models import (
    ActionItem,
    AgendaProposal,
    AgendaVersion,
    MeetingRecord,
    MeetingSeries,
)
from services.coordinator.meetings.proceedings import (
    close_meeting,
    quorum,
    record_attendance,
    record_decision,
)
from services.coordinator.meetings.record import add_amendment, approve_minutes, verify_chain
from services.coordinator.meetings.series import get_meeting, schedule_meeting
from services.coordinator.projection import CoordinatorProjection
from shared.db import make_engine
from shared.errors import Conflict, InvalidInput
from shared.events.data import AgendaItemProposed, DisputeRaised, NeedData, OfferData
from shared.events.envelope import new_event_id
from shared.events.validation import check_event
from shared.messaging.consumer import Delivery
from shared.messaging.models import OutboxMessage
from tests import factories

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ORGS = {
    "bureau": "government",
    "firm": "enterprise",
    "station": "ngo",
    "east": "community",
    "west": "community",
}


@pytest.fixture
def sessions(service_database: Callable[[str], str]) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(service_database("coordinator"))
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def _apply(sessions: sessionmaker[Session], events: list, start: int = 1) -> None:
    projection = CoordinatorProjection()
    for sequence, (subject, envelope) in enumerate(events, start=start):
        payload = envelope.to_json()
        with sessions() as session:
            projection(session, check_event(subject, payload), Delivery(subject, payload, {}, sequence, 1))
            session.commit()


def _history(at: datetime) -> list:
    """Five organisations, an old unmatched need, a programme, a proposal and a dispute."""
    events = [factories.registered(org, kind=kind, name=org) for org, kind in ORGS.items()]
    need = NeedData(
        need_id="old-need",
        organisation_id="east",
        category="logistics.cold_chain",
        title="冷链车",
        description="",
        quantity=Decimal(2),
        unit="t",
        region="610124104201",
        attributes={},
        version=1,
    )
    programme = OfferData(
        offer_id="programme",
        organisation_id="bureau",
        category="funding.subsidy",
        title="电商补贴",
        description="",
        quantity=Decimal(100000),
        unit="yuan",
        region="610124",
        service_area=["610124"],
        attributes={},
        version=1,
    )
    events += [
        factories.event("community", "east", "need", "published", need),
        factories.event("government", "bureau", "offer", "published", programme, region="610124"),
        factories.event(
            "enterprise",
            "firm",
            "agenda_item",
            "proposed",
            AgendaItemProposed(proposal_id="prop-1", organisation_id="firm", title="共建县域品牌"),
        ),
        factories.event(
            "community",
            "west",
            "dispute",
            "raised",
            DisputeRaised(
                dispute_id="disp-1",
                organisation_id="west",
                title="收购价格纠纷",
                other_parties=["firm"],
                region="610124",
            ),
        ),
    ]
    stamped = []
    for k, (subject, envelope) in enumerate(events):  # a realistic spread of times
        stamped.append((subject, envelope.model_copy(update={"time": at + timedelta(hours=k)})))
    return stamped


def _series(sessions: sessionmaker[Session], duration: int = 120) -> tuple[str, str]:
    with sessions() as session:
        series = MeetingSeries(
            id="series-1",
            name="周至县电商联席会议",
            kind="joint",
            region="610124",
            cadence="monthly",
            duration_minutes=duration,
            invited=sorted(ORGS),
            quorum_kinds=["government", "enterprise", "ngo", "community"],
            created_at=T0,
        )
        session.add(series)
        session.flush()
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
        session.commit()
        return series.id, meeting.id


def test_the_agenda_is_compiled_from_live_state_by_the_stated_rule(sessions: sessionmaker[Session]) -> None:
    _apply(sessions, _history(T0))
    _, meeting_id = _series(sessions)
    as_of = T0 + timedelta(days=26)
    with sessions() as session:
        first = compile_meeting_agenda(session, meeting_id, as_of=as_of, made_by="test")
        second = compile_meeting_agenda(session, meeting_id, as_of=as_of, made_by="test")
        session.commit()
    assert [(i["key"], i["priority"], i["start_minute"]) for i in first.items] == [
        ("dispute:disp-1", 90, 0),
        ("proposal:prop-1", 60, 20),
        ("need:old-need", 43, 35),  # 40 + 3 for a week beyond the 14-day threshold
        ("programme:programme", 30, 40),
    ]
    assert first.items == second.items  # same state, same cut-off, same agenda
    assert (first.version, second.version) == (1, 2)  # every compilation is kept
    need = first.items[2]  # published on day 0 at 14:00
    assert (need["reason_code"], need["reason_params"]) == ("agenda_unmatched_need", {"days": 25})
    assert (need["priority_rule_code"], need["priority_params"]) == (
        "priority_unmatched_need",
        {"base": 40, "bonus": 3},
    )


def test_items_that_do_not_fit_roll_over_and_edits_are_versions(sessions: sessionmaker[Session]) -> None:
    _apply(sessions, _history(T0))
    series_id, meeting_id = _series(sessions, duration=30)
    with sessions() as session:
        series = session.get(MeetingSeries, series_id)
        meeting, _ = get_meeting(session, meeting_id)
        meeting.duration_minutes = 30
        compiled = compile_meeting_agenda(session, meeting_id, as_of=T0 + timedelta(days=26), made_by="t")
        assert [i["key"] for i in compiled.items] == ["dispute:disp-1", "need:old-need"]
        assert [i["key"] for i in compiled.overflow] == ["proposal:prop-1", "programme:programme"]
        edited = edit_agenda(
            session,
            meeting_id,
            [
                {"key": "need:old-need", "minutes": 10},
                {"title": "县长讲话", "minutes": 5},
                {"key": "dispute:disp-1", "minutes": 15},
            ],
            note="reordered",
            made_by="张主任",
            now=T0 + timedelta(days=26),
        )
        assert [(i["title"], i["start_minute"]) for i in edited.items] == [
            ("冷链车", 0),
            ("县长讲话", 10),
            ("收购价格纠纷", 15),
        ]
        assert edited.version == 2 and edited.made_by == "张主任"
        added, kept = edited.items[1], edited.items[0]
        assert (added["reason_code"], added["priority_rule_code"]) == (
            "agenda_added_by_coordinator",
            "priority_placed_by_coordinator",
        )
        assert "reason" not in added and "priority_rule" not in added  # nothing typed, no sentence
        assert (kept["reason_code"], kept["reason_params"]) == ("agenda_unmatched_need", {"days": 25})
        with pytest.raises(InvalidInput, match="do not fit"):
            edit_agenda(session, meeting_id, [{"title": "太长", "minutes": 45}], note="", made_by="t", now=T0)
        with pytest.raises(InvalidInput) as unknown:
            edit_agenda(session, meeting_id, [{"key": "nope"}], note="", made_by="t", now=T0)
        assert unknown.value.field == "items.0.key"
        assert series is not None


def test_an_agenda_stored_before_reason_codes_still_shows_and_keeps_its_sentences_when_edited(
    sessions: sessionmaker[Session],
) -> None:
    _, meeting_id = _series(sessions)
    old_item = {
        "key": "need:n1",
        "source": "unmatched_need",
        "title": "冷链车",
        "reason": "unmatched for 20 days",
        "link": "/needs/n1",
        "organisation_id": "east",
        "since": T0.isoformat(),
        "priority": 40,
        "priority_rule": "40 + 0 for weeks waiting",
        "minutes": 5,
        "start_minute": 0,
        "end_minute": 5,
    }
    with sessions() as session:
        session.add(
            AgendaVersion(
                meeting_id=meeting_id,
                version=1,
                items=[old_item],
                overflow=[],
                made_by="t",
                note="stored before reason codes",
                published=False,
                created_at=T0,
            )
        )
        session.commit()
        (shown,) = queries.agenda(session, meeting_id).items
        assert shown.reason_text == {"zh": "unmatched for 20 days", "en": "unmatched for 20 days"}
        assert shown.priority_rule_text["zh"] == "40 + 0 for weeks waiting"
        edited = edit_agenda(
            session,
            meeting_id,
            [{"key": "need:n1", "minutes": 10}, {"title": "县长讲话", "reason": "县里要求"}],
            note="",
            made_by="t",
            now=T0,
        )
        old, typed = edited.items
        assert (old["reason"], old["priority_rule"]) == ("unmatched for 20 days", "40 + 0 for weeks waiting")
        assert "reason_code" not in old
        assert (typed["reason"], typed["reason_code"]) == ("县里要求", "agenda_added_by_coordinator")


def _decide(session: Session, meeting_id: str, item_key: str, outcome: str, minutes: str = "") -> object:
    return record_decision(
        session,
        meeting_id,
        item_key=item_key,
        outcome=outcome,
        positions=[],
        minutes=minutes,
        actions=[],
        recorded_by="t",
        now=T0,
    )


def _held_meeting(sessions: sessionmaker[Session]) -> str:
    _apply(sessions, _history(T0))
    _, meeting_id = _series(sessions)
    with sessions() as session:
        compile_meeting_agenda(session, meeting_id, as_of=T0 + timedelta(days=26), made_by="t")
        publish_agenda(session, meeting_id, now=T0 + timedelta(days=26))
        session.commit()
    return meeting_id


def test_quorum_needs_each_kind_and_decisions_respect_it(sessions: sessionmaker[Session]) -> None:
    meeting_id = _held_meeting(sessions)
    with sessions() as session:
        for org in ("bureau", "firm", "east"):
            record_attendance(session, meeting_id, org, present=True, representative="")
        q = quorum(session, meeting_id)
        assert not q["met"] and q["missing_kinds"] == ["ngo"]
        with pytest.raises(Conflict, match="no quorum: missing ngo"):
            _decide(session, meeting_id, "proposal:prop-1", "approved", minutes="")
        deferred = _decide(session, meeting_id, "proposal:prop-1", "deferred", minutes="待社会组织到场")
        assert deferred.outcome == "deferred"
        record_attendance(session, meeting_id, "station", present=True, representative="李娜")
        assert quorum(session, meeting_id)["met"]
        decision = record_decision(
            session,
            meeting_id,
            item_key="dispute:disp-1",
            outcome="approved",
            positions=[
                {"organisation_id": "west", "position": "agree", "reason": ""},
                {"organisation_id": "firm", "position": "object", "reason": "价格另议"},
                {"organisation_id": "bureau", "position": "abstain", "reason": ""},
            ],
            minutes="按保护价收购",
            actions=[
                {
                    "owner_organisation_id": "firm",
                    "title": "按保护价结算",
                    "due_date": date(2026, 12, 15),
                    "links": ["/needs/old-need"],
                }
            ],
            recorded_by="张主任",
            now=T0,
        )
        assert [p["position"] for p in decision.positions] == ["agree", "object", "abstain"]
        with pytest.raises(InvalidInput, match="published agenda"):
            _decide(session, meeting_id, "nope", "deferred", minutes="")
        with pytest.raises(InvalidInput, match="not invited"):
            record_decision(
                session,
                meeting_id,
                item_key="programme:programme",
                outcome="deferred",
                positions=[{"organisation_id": "stranger", "position": "agree", "reason": ""}],
                minutes="",
                actions=[],
                recorded_by="t",
                now=T0,
            )
        session.commit()
        assert session.get(AgendaProposal, "disp-1").status == "decided"  # type: ignore[union-attr]
        types = [row.event_type for row in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
    assert "sifang.action.assigned.v1" in types
    assert types.index("sifang.agenda.published.v1") > types.index("sifang.meeting.scheduled.v1")


def test_closing_locks_after_every_party_approves_and_corrections_are_amendments(
    sessions: sessionmaker[Session],
) -> None:
    meeting_id = _held_meeting(sessions)
    with sessions() as session:
        for org in ("bureau", "firm", "station", "east"):
            record_attendance(session, meeting_id, org, present=True, representative="")
        _decide(session, meeting_id, "dispute:disp-1", "referred", minutes="")
        record = close_meeting(session, meeting_id, minutes="会议顺利结束", now=T0 + timedelta(days=28))
        with pytest.raises(Conflict, match="amendments"):
            record_attendance(session, meeting_id, "west", present=True, representative="")
        assert approve_minutes(session, meeting_id, "west", record.record_hash, T0) is None  # absent
        assert approve_minutes(session, meeting_id, "east", "f" * 64, T0) is None  # wrong hash
        for org in ("bureau", "firm", "station"):
            approve_minutes(session, meeting_id, org, record.record_hash, T0)
        assert record.locked_at is None
        approve_minutes(session, meeting_id, "east", record.record_hash, T0 + timedelta(days=29))
        assert record.locked_at is not None
        amendment = add_amendment(
            session,
            meeting_id,
            text="李娜为社工站代表",
            reason="笔误",
            by="张主任",
            now=T0 + timedelta(days=30),
        )
        assert amendment.previous_hash == record.record_hash
        session.commit()
        assert verify_chain(session, "series-1")["valid"]
        session.execute(
            update(MeetingRecord)
            .where(MeetingRecord.id == record.id)
            .values(content=record.content | {"minutes": "篡改"})
        )
        session.commit()
        assert verify_chain(session, "series-1") == {"valid": False, "records": 2, "broken_at": 1}


def test_overdue_actions_are_published_and_carried_to_the_next_meeting(
    sessions: sessionmaker[Session],
) -> None:
    meeting_id = _held_meeting(sessions)
    with sessions() as session:
        for org in ORGS:
            record_attendance(session, meeting_id, org, present=True, representative="")
        record_decision(
            session,
            meeting_id,
            item_key="proposal:prop-1",
            outcome="approved",
            positions=[],
            minutes="",
            actions=[
                {
                    "owner_organisation_id": "firm",
                    "title": "提交品牌方案",
                    "due_date": date(2026, 12, 10),
                    "links": [],
                },
                {
                    "owner_organisation_id": "east",
                    "title": "报送产量",
                    "due_date": date(2026, 12, 10),
                    "links": [],
                },
            ],
            recorded_by="t",
            now=T0,
        )
        close_meeting(session, meeting_id, minutes="", now=T0 + timedelta(days=28))
        session.commit()
        east_action = session.scalar(select(ActionItem).where(ActionItem.owner_organisation_id == "east"))
        assert east_action is not None
        report_progress(
            session,
            east_action.id,
            "east",
            status="done",
            note="已报送",
            evidence_url="https://example.invalid/report.pdf",
            at=T0 + timedelta(days=30),
        )
        tick_id = new_event_id()
        begin_cause(session, Cause(tick_id, tick_id, T0 + timedelta(days=31)))  # as a clock tick
        assert mark_overdue(session, date(2026, 12, 10)) == []
        overdue = mark_overdue(session, date(2026, 12, 11))
        end_cause(session)
        assert [a.title for a in overdue] == ["提交品牌方案"]
        series = session.get(MeetingSeries, "series-1")
        assert series is not None
        next_meeting = schedule_meeting(
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
            session, next_meeting.id, as_of=datetime(2026, 12, 26, tzinfo=UTC), made_by="t"
        )
        session.commit()
        carried = [i for i in agenda.items if i["source"] == "overdue_action"]
        assert [(i["title"], i["priority"]) for i in carried] == [
            ("提交品牌方案", 90)
        ]  # 80 + 10 (16 days, capped)
        history = series_history(session, "series-1")
        assert [a["status"] for a in history[0]["decisions"][0]["actions"]] in (
            ["overdue", "done"],
            ["done", "overdue"],
        )
        types = [row.event_type for row in session.scalars(select(OutboxMessage))]
    assert "sifang.action.overdue.v1" in types
    assert types.count("sifang.action.updated.v1") == 1
    assert session.get  # the session closed cleanly


def test_the_same_history_gives_the_same_agenda_on_a_fresh_database(
    service_database: Callable[[str], str],
) -> None:
    agendas = []
    history = _history(T0)
    for _ in range(2):
        engine = make_engine(service_database("coordinator"))
        sessions = sessionmaker(engine, expire_on_commit=False)
        _apply(sessions, history)
        _, meeting_id = _series(sessions)
        with sessions() as session:
            agenda = compile_meeting_agenda(session, meeting_id, as_of=T0 + timedelta(days=26), made_by="t")
            agendas.append(
                [(i["key"], i["priority"], i["start_minute"], i["reason_params"]) for i in agenda.items]
            )
            session.commit()
            assert session.scalar(select(BookNeed).where(BookNeed.id == "old-need")) is not None
        engine.dispose()
    assert agendas[0] == agendas[1]
