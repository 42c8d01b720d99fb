"""Mediation in the coordinator, on each backend, through the stream as the consumer applies
it: a community's dispute awaits a mediator a coordinator names (a neutral social-work
organisation, by instruction); the parties state their case and answer settlements, the mediator
proposes them; a rejected settlement goes back to the mediator, an accepted one settles the
dispute; a step past its time limit reminds those who must act, and at twice the limit the
dispute escalates to the next joint meeting's agenda with its history; both outcomes enter the
county's hash chain; a replay reproduces all of it."""

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from services.coordinator.clock import CLOCK_REGION
from services.coordinator.mediation.models import Dispute, MediationRecord
from services.coordinator.mediation.queries import verify_county
from services.coordinator.meetings.models import AgendaProposal
from shared.events.catalogue import CATALOGUE
from shared.events.data import (
    ClockTicked,
    DisputeData,
    DisputeRaised,
    EventData,
    InstructionIssued,
    MediationEnded,
    SettlementAnswered,
    SettlementProposed,
    StatementGiven,
)
from shared.events.envelope import CloudEvent, new_event_id
from shared.messaging.consumer import EventRejected
from shared.messaging.models import DeadLetter, OutboxMessage
from sifang.replay_compare import COORDINATOR_TABLES, compare_databases
from tests import factories
from tests.integration.streams import Stream

KINDS = {
    "village": "community",
    "firm": "enterprise",
    "station": "ngo",
    "ngo2": "ngo",
    "bureau": "government",
}
COUNTY = "610124"
T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _event(org: str, entity: str, verb: str, data: EventData, at: datetime) -> tuple[str, bytes]:
    kind = KINDS.get(org, "coordinator")
    region = CLOCK_REGION if entity == "clock" else COUNTY
    subject, envelope = CATALOGUE[f"sifang.{entity}.{verb}.v1"].build(
        kind=kind, organisation_id=org, region=region, data=data
    )
    return subject, envelope.model_copy(update={"time": at}).to_json()


def _mediator(dispute_id: str, mediator: str, at: datetime) -> tuple[str, bytes]:
    data = InstructionIssued(
        instruction_id=new_event_id(),
        action="assign_mediator",
        target=dispute_id,
        coordinator="李主任",
        arguments={"mediator_organisation_id": mediator},
        at=at,
    )
    return _event("coordinator", "instruction", "issued", data, at)


def _tick(at: datetime) -> tuple[str, bytes]:
    return _event(
        "coordinator",
        "clock",
        "ticked",
        ClockTicked(tick_id=new_event_id(), coordinator="coordinator", at=at),
        at,
    )


def _raised(stream: Stream, dispute_id: str, at: datetime) -> None:
    data = DisputeRaised(
        dispute_id=dispute_id,
        organisation_id="village",
        title="收购价格纠纷",
        description="低于约定价",
        other_parties=["firm"],
        region=COUNTY,
    )
    stream.apply(*_event("village", "dispute", "raised", data, at))


def _states(stream: Stream, dispute_id: str) -> list[tuple[str, DisputeData]]:
    with stream.sessions() as session:
        rows = session.execute(
            select(OutboxMessage.event_type, OutboxMessage.payload)
            .where(OutboxMessage.event_type.like("sifang.dispute.%"))
            .order_by(OutboxMessage.id)
        ).all()
    found = [
        (t.split(".")[2], DisputeData.model_validate(CloudEvent.model_validate_json(p).data)) for t, p in rows
    ]
    return [(verb, data) for verb, data in found if data.dispute_id == dispute_id]


def _refused(stream: Stream, event: tuple[str, bytes], message: str) -> None:
    with pytest.raises(EventRejected, match=re.escape(message)):
        stream.apply(*event)


def _registered(stream: Stream) -> None:
    for org, kind in KINDS.items():
        subject, envelope = factories.registered(org, kind=kind, name=org)
        stream.apply(subject, envelope.model_copy(update={"time": T0 - timedelta(days=30)}).to_json())


def _agenda_status(stream: Stream, dispute_id: str) -> str:
    with stream.sessions() as session:
        item = session.get(AgendaProposal, dispute_id)
        assert item is not None
        return item.status


def test_a_dispute_is_mediated_to_a_settlement_the_parties_accept(
    service_database: Callable[[str], str],
) -> None:
    stream = Stream(service_database("coordinator"))
    _registered(stream)
    _raised(stream, "d1", T0)
    assert _agenda_status(stream, "d1") == "awaiting_mediator"
    verb, raised = _states(stream, "d1")[-1]
    assert (raised.status, raised.step, raised.deadline) == (
        "awaiting_mediator",
        "assign_mediator",
        T0 + timedelta(days=3),
    )
    for candidate, message in (
        ("firm", "firm is registered as enterprise"),
        ("bureau", "bureau is registered as government"),
        ("ghost", "not a registered organisation"),
    ):
        _refused(
            stream,
            _mediator("d1", candidate, T0 + timedelta(hours=1)),
            message,
        )
    statement = StatementGiven(
        statement_id=new_event_id(), dispute_id="d1", organisation_id="village", statement="约定 8 元/斤"
    )
    _refused(
        stream,
        _event("village", "dispute", "statement_given", statement, T0 + timedelta(hours=2)),
        "no mediator yet",
    )
    stream.apply(*_mediator("d1", "station", T0 + timedelta(days=1)))
    assert _agenda_status(stream, "d1") == "in_mediation"
    _refused(
        stream, _mediator("d1", "ngo2", T0 + timedelta(days=1, hours=1)), "has a mediator already (station)"
    )
    stream.apply(*_event("village", "dispute", "statement_given", statement, T0 + timedelta(days=2)))
    firm_says = StatementGiven(
        statement_id=new_event_id(), dispute_id="d1", organisation_id="firm", statement="部分果品不达一级"
    )
    stream.apply(*_event("firm", "dispute", "statement_given", firm_says, T0 + timedelta(days=2, hours=3)))
    _refused(
        stream,
        _event(
            "station",
            "dispute",
            "statement_given",
            statement.model_copy(update={"organisation_id": "station", "statement_id": new_event_id()}),
            T0 + timedelta(days=2),
        ),
        "not a party",
    )
    _refused(
        stream,
        _event(
            "ngo2",
            "dispute",
            "settlement_proposed",
            SettlementProposed(settlement_id="x", dispute_id="d1", organisation_id="ngo2", terms="t"),
            T0 + timedelta(days=3),
        ),
        "only the dispute's mediator",
    )

    first = SettlementProposed(
        settlement_id="s1", dispute_id="d1", organisation_id="station", terms="按 7 元/斤结算"
    )
    stream.apply(*_event("station", "dispute", "settlement_proposed", first, T0 + timedelta(days=4)))
    stream.apply(
        *_event(
            "village",
            "dispute",
            "settlement_answered",
            SettlementAnswered(
                dispute_id="d1", settlement_id="s1", organisation_id="village", answer="reject", reason="太低"
            ),
            T0 + timedelta(days=5),
        )
    )
    _, back = _states(stream, "d1")[-1]
    assert (back.status, back.step, back.awaiting) == ("in_mediation", "settlement", ["station"])
    _refused(
        stream,
        _event(
            "firm",
            "dispute",
            "settlement_answered",
            SettlementAnswered(dispute_id="d1", settlement_id="s1", organisation_id="firm", answer="accept"),
            T0 + timedelta(days=5),
        ),
        "not awaiting answers",
    )
    second = SettlementProposed(
        settlement_id="s2", dispute_id="d1", organisation_id="station", terms="一级果 8 元/斤，其余 6 元/斤"
    )
    stream.apply(*_event("station", "dispute", "settlement_proposed", second, T0 + timedelta(days=6)))
    for org in ("firm", "village"):
        stream.apply(
            *_event(
                org,
                "dispute",
                "settlement_answered",
                SettlementAnswered(dispute_id="d1", settlement_id="s2", organisation_id=org, answer="accept"),
                T0 + timedelta(days=7),
            )
        )
    verb, final = _states(stream, "d1")[-1]
    assert (verb, final.status, final.step) == ("settled", "settled", None)
    assert [s["status"] for s in final.settlements] == ["rejected", "accepted"]
    assert [h["what"] for h in final.history] == [
        "raised",
        "mediator_assigned",
        "statement",
        "statement",
        "settlement_proposed",
        "settlement_rejected",
        "settlement_proposed",
        "settlement_accepted",
        "settlement_accepted",
    ]
    assert _agenda_status(stream, "d1") == "settled"
    assert [v.version for _, v in _states(stream, "d1")] == list(range(1, len(_states(stream, "d1")) + 1))
    _refused(
        stream,
        _event(
            "station",
            "dispute",
            "mediation_ended",
            MediationEnded(dispute_id="d1", organisation_id="station", note="x"),
            T0 + timedelta(days=8),
        ),
        "the dispute is settled",
    )
    with stream.sessions() as session:
        (record,) = session.scalars(select(MediationRecord)).all()
        assert (record.sequence, record.outcome, record.content["details"]["terms"]) == (
            1,
            "settled",
            second.terms,
        )
        assert final.record_id == record.id


def test_a_dispute_past_its_time_limits_is_reminded_then_escalated_to_the_agenda_and_chained(
    service_database: Callable[[str], str],
) -> None:
    stream = Stream(service_database("coordinator"))
    _registered(stream)
    _raised(stream, "d1", T0)
    stream.apply(*_mediator("d1", "station", T0 + timedelta(days=1)))
    stream.apply(
        *_event(
            "station",
            "dispute",
            "mediation_ended",
            MediationEnded(dispute_id="d1", organisation_id="station", note="双方分歧过大"),
            T0 + timedelta(days=2),
        )
    )
    _raised(stream, "d2", T0 + timedelta(days=1))
    stream.apply(*_mediator("d2", "ngo2", T0 + timedelta(days=2)))
    statements_due = T0 + timedelta(days=2) + timedelta(days=7)
    stream.apply(*_tick(statements_due - timedelta(minutes=1)))
    assert _states(stream, "d2")[-1][0] == "updated"  # nothing due yet
    stream.apply(*_tick(statements_due))
    verb, reminded = _states(stream, "d2")[-1]
    assert (verb, reminded.reminders[0]["step"], reminded.reminders[0]["awaiting"]) == (
        "reminder",
        "statements",
        ["village", "firm"],
    )
    stream.apply(*_tick(statements_due + timedelta(days=1)))
    assert (
        _states(stream, "d2")[-1][0] == "reminder" and len(_states(stream, "d2")[-1][1].reminders) == 1
    )  # once
    stream.apply(*_tick(statements_due + timedelta(days=7)))
    verb, escalated = _states(stream, "d2")[-1]
    assert (verb, escalated.status, escalated.escalation and escalated.escalation["reason"]) == (
        "escalated",
        "escalated",
        "time_limit",
    )
    with stream.sessions() as session:
        item = session.get(AgendaProposal, "d2")
        assert item is not None and item.status == "pending"
        assert [h["what"] for h in item.details["history"]][-2:] == ["reminder", "time_limit_exceeded"]
        first, second = session.scalars(select(MediationRecord).order_by(MediationRecord.sequence)).all()
        assert (first.dispute_id, first.outcome, second.dispute_id) == ("d1", "escalated", "d2")
        assert second.previous_hash == first.record_hash
        assert verify_county(session, COUNTY).valid
        original = dict(first.content)
        session.execute(
            update(MediationRecord)
            .where(MediationRecord.id == first.id)
            .values(content={**first.content, "title": "改过"})
        )
        session.commit()
        verdict = verify_county(session, COUNTY)
        assert (verdict.valid, verdict.broken_at) == (False, 1)
        session.rollback()
        session.execute(
            update(MediationRecord).where(MediationRecord.id == first.id).values(content=original)
        )
        session.commit()
        assert verify_county(session, COUNTY).valid

    replayed = Stream(service_database("coordinator"))
    for subject, payload in stream.applied:
        replayed.apply(subject, payload)
    tables = {
        name: COORDINATOR_TABLES[name] for name in ("disputes", "mediation_records", "agenda_proposals")
    }
    differences = compare_databases(stream.url, replayed.url, tables)
    assert all(table["identical"] for table in differences.values()), differences


def test_a_dispute_id_taken_and_a_dispute_outside_the_communitys_county_are_refused_and_early_steps_wait(
    service_database: Callable[[str], str],
) -> None:
    stream = Stream(service_database("coordinator"))
    _registered(stream)
    # a statement that overtakes its dispute waits for it (then meets the rule: no mediator yet)
    early = StatementGiven(
        statement_id=new_event_id(), dispute_id="d1", organisation_id="village", statement="先到"
    )
    stream.apply(*_event("village", "dispute", "statement_given", early, T0 - timedelta(minutes=1)))
    with stream.sessions() as session:
        assert session.get(Dispute, "d1") is None
    _raised(stream, "d1", T0)
    with stream.sessions() as session:
        letters = session.scalars(select(DeadLetter.reason)).all()
    assert any("no mediator yet" in reason for reason in letters), letters
    again = DisputeRaised(
        dispute_id="d1", organisation_id="village", title="再次", other_parties=[], region=COUNTY
    )
    _refused(
        stream,
        _event("village", "dispute", "raised", again, T0 + timedelta(hours=1)),
        "dispute d1 exists already",
    )
    elsewhere = again.model_copy(update={"dispute_id": "d2", "region": "610125"})
    _refused(
        stream, _event("village", "dispute", "raised", elsewhere, T0 + timedelta(hours=1)), "not in 610125"
    )


def test_a_meeting_decision_on_a_dispute_ends_its_mediation(service_database: Callable[[str], str]) -> None:
    from services.coordinator.journal.service import Cause, begin_cause, end_cause
    from services.coordinator.mediation.service import decided_at_meeting

    stream = Stream(service_database("coordinator"))
    _registered(stream)
    _raised(stream, "d1", T0)
    with stream.sessions() as session:
        cause = new_event_id()
        begin_cause(session, Cause(cause, cause, T0 + timedelta(days=4)))
        decided_at_meeting(
            session, "d1", meeting_id="m", decision_id="x", outcome="approved", at=T0 + timedelta(days=4)
        )
        end_cause(session)
        session.commit()
        dispute = session.get(Dispute, "d1")
        assert dispute is not None and (dispute.status, dispute.next_check) == ("decided", None)
        assert dispute.history[-1]["what"] == "decided_at_meeting"
    stream.apply(*_tick(T0 + timedelta(days=7)))  # past twice the limit: nothing more happens to it
    verb, last = _states(stream, "d1")[-1]
    assert (verb, last.status) == ("updated", "decided")
    with stream.sessions() as session:
        assert session.scalars(select(MediationRecord)).all() == []


def test_an_upgraded_coordinator_carries_its_disputes_into_mediation(
    make_database: Callable[[str], str],
) -> None:
    from alembic import command
    from sqlalchemy import insert
    from sqlalchemy.orm import sessionmaker

    from services.migrate import alembic_config, upgrade
    from shared.db import make_engine

    url = make_database("coordinator")
    command.upgrade(alembic_config("coordinator", url), "coordinator_0015")  # before mediation
    engine = make_engine(url)
    with engine.begin() as connection:
        for ident, status in (("open-one", "pending"), ("decided-one", "decided")):
            connection.execute(
                insert(AgendaProposal.__table__).values(
                    id=ident,
                    source="dispute",
                    organisation_id="village",
                    series_id=None,
                    region="610124104201",
                    title="收购价格纠纷",
                    description="",
                    details={"other_parties": ["firm", "village"]},
                    status=status,
                    raised_at=T0,
                )
            )
    upgrade("coordinator", url)
    with sessionmaker(engine)() as session:
        waiting, decided = session.get(Dispute, "open-one"), session.get(Dispute, "decided-one")
        assert waiting is not None and decided is not None
        assert (waiting.status, waiting.parties, waiting.next_check) == (
            "awaiting_mediator",
            ["village", "firm"],
            T0 + timedelta(days=3),
        )
        assert (decided.status, decided.next_check) == ("decided", None)
        item = session.get(AgendaProposal, "open-one")
        assert item is not None and item.status == "awaiting_mediator"
    engine.dispose()
