"""The steps of running a meeting, as typed commands that travel through the stream.

A coordinator's step (define a series, schedule, compile / edit / publish the agenda, record
attendance or a decision, close, amend) is not applied where it is asked for. ``carry_out``
first tries it against the current state in a transaction it rolls back — so a refusal comes
back at once, with its field — then puts it on the stream as an ``instruction.issued`` event
and waits until the coordinator's consumer has applied it (``carry_out_meeting_step``). The
record of meetings is therefore rebuilt by a replay of the stream like everything else, ids
and times included: both derive from the instruction.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.orm import Session

from services.coordinator.clock import await_instruction, issue_instruction
from services.coordinator.meetings import service as meetings
from services.coordinator.meetings.models import MeetingSeries
from services.coordinator.settings import consumer_name, settings_of
from shared.app import Runtime
from shared.db import UnitOfWork, utcnow
from shared.errors import Conflict, InvalidInput, NotFound, NotYetApplied
from shared.events.data import InstructionAction, InstructionIssued, RegionCode, StakeholderKind
from shared.events.envelope import new_event_id

__all__ = [
    "ActionCreate",
    "AgendaEdit",
    "AgendaItemEdit",
    "Amendment",
    "Attendance",
    "AttendanceList",
    "Closing",
    "DecisionCreate",
    "MeetingCreate",
    "NoArguments",
    "Position",
    "SeriesCreate",
    "carry_out",
    "carry_out_meeting_step",
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoArguments(Body):
    pass


class SeriesCreate(Body):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: Literal["joint", "negotiation"]
    region: RegionCode
    cadence: Annotated[str, Field(max_length=200)] = "monthly"
    duration_minutes: Annotated[int, Field(ge=15, le=600)] = 120
    invited: list[str] = Field(min_length=1, description="ids of the invited organisations")
    quorum_kinds: list[StakeholderKind] = Field(default=["government", "enterprise", "ngo", "community"])


class MeetingCreate(Body):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    starts_at: datetime
    duration_minutes: Annotated[int, Field(ge=15, le=600)] | None = None
    location: Annotated[str, Field(max_length=200)] = ""
    cutoff_hours: Annotated[float, Field(ge=0, le=24 * 30)] = 48

    @field_validator("starts_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give the time with its UTC offset, e.g. 2026-12-01T09:00:00+08:00")
        return value


class AgendaItemEdit(Body):
    key: str | None = Field(default=None, description="an existing item's key; none for a new item")
    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    reason: Annotated[str, Field(max_length=1000)] | None = None
    minutes: Annotated[int, Field(ge=1, le=600)] | None = None


class AgendaEdit(Body):
    items: list[AgendaItemEdit]
    note: Annotated[str, Field(max_length=1000)] = ""


class Attendance(Body):
    organisation_id: str
    present: bool
    representative: Annotated[str, Field(max_length=200)] = ""


class AttendanceList(Body):
    entries: list[Attendance] = Field(min_length=1)


class Position(Body):
    organisation_id: str
    position: Literal["agree", "object", "abstain"]
    reason: Annotated[str, Field(max_length=2000)] = ""


class ActionCreate(Body):
    owner_organisation_id: str
    title: Annotated[str, Field(min_length=1, max_length=200)]
    due_date: date
    links: list[str] = Field(default_factory=list, description="needs, offers or matches concerned")


class DecisionCreate(Body):
    item_key: str
    outcome: Literal["approved", "rejected", "deferred", "referred"]
    positions: list[Position] = Field(default_factory=list)
    minutes: Annotated[str, Field(max_length=20000)] = ""
    actions: list[ActionCreate] = Field(default_factory=list)


class Closing(Body):
    minutes: Annotated[str, Field(max_length=50000)] = ""


class Amendment(Body):
    text: Annotated[str, Field(min_length=1, max_length=20000)]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


@dataclass(frozen=True)
class Step:
    """Who asked for a step, when, and on what (the series or meeting; empty for a new series)."""

    target: str
    coordinator: str
    at: datetime


def _series(session: Session, series_id: str) -> MeetingSeries:
    series = session.get(MeetingSeries, series_id)
    if series is None:
        raise NotFound(f"no series {series_id!r}", field="series_id")
    return series


def _create_series(session: Session, body: SeriesCreate, step: Step) -> str:
    return meetings.create_series(session, **body.model_dump(), now=step.at).id


def _schedule(session: Session, body: MeetingCreate, step: Step) -> str:
    meeting = meetings.schedule_meeting(
        session,
        _series(session, step.target),
        title=body.title,
        starts_at=body.starts_at,
        duration_minutes=body.duration_minutes,
        location=body.location,
        cutoff_hours=body.cutoff_hours,
        now=step.at,
    )
    return meeting.id


def _compile(session: Session, body: NoArguments, step: Step) -> str:
    version = meetings.compile_meeting_agenda(session, step.target, as_of=step.at, made_by=step.coordinator)
    return str(version.version)


def _edit(session: Session, body: AgendaEdit, step: Step) -> str:
    items = [i.model_dump(exclude_none=True) for i in body.items]
    version = meetings.edit_agenda(
        session, step.target, items, note=body.note, made_by=step.coordinator, now=step.at
    )
    return str(version.version)


def _publish(session: Session, body: NoArguments, step: Step) -> str:
    return str(meetings.publish_agenda(session, step.target, now=step.at).version)


def _attendance(session: Session, body: AttendanceList, step: Step) -> str:
    for entry in body.entries:
        meetings.record_attendance(
            session,
            step.target,
            entry.organisation_id,
            present=entry.present,
            representative=entry.representative,
        )
    return step.target


def _decide(session: Session, body: DecisionCreate, step: Step) -> str:
    decision = meetings.record_decision(
        session,
        step.target,
        item_key=body.item_key,
        outcome=body.outcome,
        positions=[p.model_dump() for p in body.positions],
        minutes=body.minutes,
        actions=[a.model_dump() for a in body.actions],
        recorded_by=step.coordinator,
        now=step.at,
    )
    return decision.id


def _close(session: Session, body: Closing, step: Step) -> str:
    return meetings.close_meeting(session, step.target, minutes=body.minutes, now=step.at).id


def _amend(session: Session, body: Amendment, step: Step) -> str:
    record = meetings.add_amendment(
        session, step.target, text=body.text, reason=body.reason, by=step.coordinator, now=step.at
    )
    return record.id


Handler = Callable[[Session, Any, Step], str]

# Each step: the command it takes and the handler that applies it; the handler returns the id
# of what it made or changed (a series, meeting, agenda version, decision or record).
STEPS: dict[str, tuple[type[Body], Handler]] = {
    "create_series": (SeriesCreate, _create_series),
    "schedule_meeting": (MeetingCreate, _schedule),
    "compile_agenda": (NoArguments, _compile),
    "edit_agenda": (AgendaEdit, _edit),
    "publish_agenda": (NoArguments, _publish),
    "record_attendance": (AttendanceList, _attendance),
    "record_decision": (DecisionCreate, _decide),
    "close_meeting": (Closing, _close),
    "amend_record": (Amendment, _amend),
}


def _run(session: Session, action: str, command: Body, step: Step) -> str:
    model, handler = STEPS[action]
    if not isinstance(command, model):
        raise TypeError(f"{action} takes {model.__name__}")
    return handler(session, command, step)


def carry_out_meeting_step(session: Session, data: InstructionIssued) -> str:
    """Apply one meeting step from the stream (ids and times derive from the instruction)."""
    model, _ = STEPS[data.action]
    try:
        command = model.model_validate(data.arguments)
    except ValidationError as exc:
        raise InvalidInput(f"the {data.action} instruction carries a bad command: {exc}") from exc
    return _run(session, data.action, command, Step(data.target, data.coordinator, data.at))


def _region(session: Session, action: str, target: str, command: Body) -> str:
    if isinstance(command, SeriesCreate):
        return command.region
    if action == "schedule_meeting":
        return _series(session, target).region
    return meetings.get_meeting(session, target)[1].region


def carry_out(
    uow: UnitOfWork,
    runtime: Runtime,
    action: InstructionAction,
    command: Body,
    *,
    target: str = "",
    coordinator: str,
    wait: float = 10.0,
) -> str:
    """Try the step, put it on the stream, wait until it is applied; returns the id of what it
    made or changed. Raises the step's own error (404, 409, 422) if it is refused at once,
    Conflict if the state changed so that the consumer refused it, and NotYetApplied (202) if
    it is still on its way after ``wait`` seconds."""

    session = uow.session
    step = Step(target, coordinator, utcnow())
    instruction_id = new_event_id()
    region = _region(session, action, target, command)
    meetings.begin_cause(session, instruction_id, step.at)
    try:
        made = _run(session, action, command, step)  # a dry run: refusals surface here
    finally:
        meetings.end_cause(session)
        session.rollback()
    issue_instruction(
        session,
        action=action,
        target=target,
        region=region,
        coordinator=coordinator,
        arguments=command.model_dump(mode="json"),
        instruction_id=instruction_id,
        at=step.at,
    )
    uow.commit()
    runtime.relay.wake()
    settings = settings_of(runtime)
    try:
        refused = await_instruction(runtime.session_factory, consumer_name(settings), instruction_id, wait)
    except TimeoutError:
        raise NotYetApplied(
            f"instruction {instruction_id} is on the stream and takes effect when the coordinator "
            "applies it (it is busy or paused: see /healthz)"
        ) from None
    if refused is not None:
        raise Conflict(f"refused when applied: {refused.removeprefix('rejected: ')}")
    session.expire_all()
    return made
