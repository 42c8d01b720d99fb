"""The message bus (services/coordinator/bus.py) with fake handlers and a fake unit of work,
and the wiring in bootstrap.py: every message the coordinator applies has its handler."""

import typing
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from services.coordinator.bootstrap import build_bus
from services.coordinator.bus import Applied, Command, CommandBody, MessageBus, UnitOfWork
from services.coordinator.journal.service import Cause
from services.coordinator.matches.commands import NudgeMatch, WithdrawMatch
from services.coordinator.matches.service import MatchPolicy
from services.coordinator.meetings.commands import MeetingCreate
from shared.errors import InvalidInput
from shared.events.catalogue import CATALOGUE
from shared.events.data import (
    ActionProgressed,
    AgendaItemProposed,
    ClockTicked,
    DisputeRaised,
    InstructionAction,
    InstructionIssued,
    InvitationAnswered,
    MatchDelivery,
    MatchResponse,
    MinutesApproved,
    NeedData,
    NeedWithdrawn,
    OfferData,
    OfferWithdrawn,
    OrganisationRegistered,
)

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SESSION = object()  # stands in for the SQLAlchemy session: the bus only hands it over


class FakeUnitOfWork:
    def __init__(self, session: Any = SESSION) -> None:
        self.session = session


class Recorder:
    """A fake handler: records each (message, uow) and returns ``result``."""

    def __init__(self, result: str | None = None) -> None:
        self.calls: list[tuple[Any, UnitOfWork]] = []
        self.result = result

    def __call__(self, message: Any, uow: UnitOfWork) -> str | None:
        self.calls.append((message, uow))
        return self.result


class Ping(CommandBody):
    action: ClassVar[InstructionAction] = "nudge_match"

    note: str = ""


class Pong(CommandBody):
    action: ClassVar[InstructionAction] = "publish_agenda"


def _withdrawn(need_id: str = "n1") -> NeedWithdrawn:
    return NeedWithdrawn(need_id=need_id, organisation_id="org1", reason="sold elsewhere")


def _applied(data: Any, entity: str = "need", verb: str = "withdrawn") -> Applied[Any]:
    event_type = CATALOGUE[f"sifang.{entity}.{verb}.v1"]
    _, envelope = event_type.build(
        kind="community", organisation_id="org1", region="610124104201", data=data, time=AT
    )
    return Applied(data, envelope, verb, Cause(envelope.id, envelope.correlationid, AT))


def _instruction(action: str, **fields: Any) -> InstructionIssued:
    values: dict[str, Any] = {
        "instruction_id": "i1",
        "action": action,
        "target": "t1",
        "coordinator": "coord1",
        "at": AT,
    }
    return InstructionIssued(**(values | fields))


# -- handle -----------------------------------------------------------------------------------


def test_a_command_goes_to_the_handler_for_its_body_type_and_its_result_comes_back() -> None:
    ping, pong = Recorder("made-1"), Recorder("made-2")
    bus = MessageBus({}, {Ping: ping, Pong: pong})
    command = Command(Ping(note="hi"), "m1", "coord1", AT)
    uow = FakeUnitOfWork()
    assert bus.handle(command, uow) == "made-1"
    assert ping.calls == [(command, uow)]
    assert pong.calls == []


def test_an_event_goes_to_the_handler_for_its_data_type() -> None:
    withdrawn, registered = Recorder(), Recorder()
    bus = MessageBus({NeedWithdrawn: withdrawn, OrganisationRegistered: registered}, {})
    event = _applied(_withdrawn())
    uow = FakeUnitOfWork(None)
    assert bus.handle(event, uow) is None
    assert withdrawn.calls == [(event, uow)]
    assert registered.calls == []


def test_an_event_handler_is_chosen_by_the_exact_data_type() -> None:
    need, offer = Recorder(), Recorder()
    bus = MessageBus({NeedWithdrawn: need, OfferWithdrawn: offer}, {})
    event = _applied(OfferWithdrawn(offer_id="o1", organisation_id="org1", reason="gone"), "offer")
    bus.handle(event, FakeUnitOfWork())
    assert need.calls == []
    assert [call[0] for call in offer.calls] == [event]


def test_an_event_type_without_a_handler_is_ignored() -> None:
    other = Recorder()
    bus = MessageBus({OrganisationRegistered: other}, {Ping: Recorder()})
    assert bus.handle(_applied(_withdrawn()), FakeUnitOfWork()) is None
    assert other.calls == []


def test_a_command_without_a_handler_is_a_type_error() -> None:
    bus = MessageBus({NeedWithdrawn: Recorder()}, {Ping: Recorder()})
    with pytest.raises(TypeError, match="no handler for Pong"):
        bus.handle(Command(Pong(), "m1", "coord1", AT), FakeUnitOfWork())


# -- command_of -------------------------------------------------------------------------------


def _meeting_bus() -> MessageBus:
    return MessageBus({}, {MeetingCreate: Recorder(), WithdrawMatch: Recorder(), NudgeMatch: Recorder()})


def test_a_meeting_instruction_becomes_its_command_from_the_arguments() -> None:
    starts = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    data = _instruction(
        "schedule_meeting",
        target="series-7",
        arguments={"title": "Kiwifruit season", "starts_at": starts.isoformat(), "cutoff_hours": 24},
    )
    command = _meeting_bus().command_of(data)
    assert command == Command(
        MeetingCreate(title="Kiwifruit season", starts_at=starts, cutoff_hours=24),
        "series-7",
        "coord1",
        AT,
    )
    assert type(command.body) is MeetingCreate


def test_a_withdraw_match_instruction_takes_its_reason() -> None:
    data = _instruction("withdraw_match", target="m9", reason="the lorry broke down")
    command = _meeting_bus().command_of(data)
    assert command == Command(WithdrawMatch(reason="the lorry broke down"), "m9", "coord1", AT)
    assert command.body.instruction_reason() == "the lorry broke down"


def test_a_nudge_instruction_becomes_an_empty_command() -> None:
    command = _meeting_bus().command_of(_instruction("nudge_match", target="m9"))
    assert command == Command(NudgeMatch(), "m9", "coord1", AT)


@pytest.mark.parametrize(
    "arguments",
    [
        {},  # title and starts_at missing
        {"title": "x", "starts_at": "2026-12-01T09:00:00"},  # no UTC offset
        {"title": "x", "starts_at": "2026-12-01T09:00:00+08:00", "colour": "red"},  # unknown field
        {"title": "x", "starts_at": "2026-12-01T09:00:00+08:00", "duration_minutes": 5},  # too short
    ],
)
def test_bad_arguments_are_invalid_input_naming_the_action(arguments: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput, match="schedule_meeting") as raised:
        _meeting_bus().command_of(_instruction("schedule_meeting", arguments=arguments))
    assert raised.value.code == "invalid_input"


def test_bad_arguments_to_a_command_without_fields_are_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="nudge_match"):
        _meeting_bus().command_of(_instruction("nudge_match", arguments={"reason": "x"}))


# -- bootstrap --------------------------------------------------------------------------------

# The events the coordinator consumes from stakeholders and that change its state.
CONSUMED: dict[str, type[BaseModel]] = {
    "sifang.organisation.registered.v1": OrganisationRegistered,
    "sifang.need.published.v1": NeedData,
    "sifang.need.updated.v1": NeedData,
    "sifang.need.withdrawn.v1": NeedWithdrawn,
    "sifang.offer.published.v1": OfferData,
    "sifang.offer.updated.v1": OfferData,
    "sifang.offer.withdrawn.v1": OfferWithdrawn,
    "sifang.match.accepted.v1": MatchResponse,
    "sifang.match.rejected.v1": MatchResponse,
    "sifang.match.delivered.v1": MatchDelivery,
    "sifang.agenda_item.proposed.v1": AgendaItemProposed,
    "sifang.dispute.raised.v1": DisputeRaised,
    "sifang.invitation.answered.v1": InvitationAnswered,
    "sifang.action.progressed.v1": ActionProgressed,
    "sifang.minutes.approved.v1": MinutesApproved,
}


@pytest.fixture(scope="module")
def bus() -> MessageBus:
    return build_bus(MatchPolicy(), "coordinator", timedelta(minutes=10))


@pytest.mark.parametrize("event_type", sorted(CONSUMED))
def test_the_coordinator_has_a_handler_for_each_event_it_consumes(bus: MessageBus, event_type: str) -> None:
    entry = CATALOGUE[event_type]  # the catalogue still has the type, with this data model
    assert entry.data_model is CONSUMED[event_type]
    assert entry.publishers != ("coordinator",)
    assert entry.data_model in bus.events


def test_the_coordinator_handles_the_clock_and_instructions(bus: MessageBus) -> None:
    assert ClockTicked in bus.events
    assert InstructionIssued in bus.events
    coordinator_types = {t.data_model for t in CATALOGUE.values() if t.publishers == ("coordinator",)}
    assert {ClockTicked, InstructionIssued} <= coordinator_types


def test_the_coordinator_has_a_command_handler_for_every_instruction_action(bus: MessageBus) -> None:
    actions = set(typing.get_args(InstructionAction))
    assert len(actions) == 12
    assert set(bus.bodies) == actions
    for action in actions:
        body = bus.bodies[action]
        assert body.action == action
        assert body in bus.commands


def test_an_instruction_reaches_its_command_handler_through_the_built_bus() -> None:
    fresh = build_bus(MatchPolicy(), "coordinator", timedelta(minutes=10))
    fake = Recorder("m9")
    fresh.commands[WithdrawMatch] = fake
    data = _instruction("withdraw_match", target="m9", reason="duplicate")
    event = Applied(data, _applied(_withdrawn()).envelope, "issued", Cause("e1", "e1", AT))
    uow = FakeUnitOfWork()
    assert fresh.handle(event, uow) is None
    assert fake.calls == [(Command(WithdrawMatch(reason="duplicate"), "m9", "coord1", AT), uow)]
