"""The handlers of meetings: each coordinator's command and each party's event about a meeting,
as ``handler(message, uow)``. A command's handler returns the id of what it made or changed (a
series, meeting, agenda version, decision or record). Ids and times derive from the message's
cause (see ``journal.service``), so a replay makes the same record."""

from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from services.coordinator.bus import Applied, Command, CommandBody, CommandHandler, EventHandler, UnitOfWork
from services.coordinator.journal.service import new_id
from services.coordinator.mediation import service as mediation
from services.coordinator.meetings import agendas, follow_up, proceedings, record, series, sources
from services.coordinator.meetings.commands import (
    AgendaEdit,
    Amendment,
    AttendanceList,
    Closing,
    CompileAgenda,
    DecisionCreate,
    MeetingCreate,
    PublishAgenda,
    SeriesCreate,
)
from services.coordinator.projects import service as projects
from shared.errors import Forbidden, InvalidInput
from shared.events.data import (
    ActionProgressed,
    AgendaItemProposed,
    InvitationAnswered,
    MinutesApproved,
)

__all__ = [
    "COMMAND_HANDLERS",
    "EVENT_HANDLERS",
    "region_of",
]


def region_of(session: Session, command: Command[Any]) -> str:
    """The region a meeting command belongs to (the subject of its instruction)."""
    if isinstance(command.body, SeriesCreate):
        return command.body.region
    if isinstance(command.body, MeetingCreate):
        return series.get_series(session, command.target).region
    return series.get_meeting(session, command.target)[1].region


# -- a coordinator's commands ---------------------------------------------------------------


def create_series(command: Command[SeriesCreate], uow: UnitOfWork) -> str:
    return series.create_series(uow.session, **command.body.model_dump(), now=command.at).id


def schedule_meeting(command: Command[MeetingCreate], uow: UnitOfWork) -> str:
    body = command.body
    meeting = series.schedule_meeting(
        uow.session,
        series.get_series(uow.session, command.target),
        title=body.title,
        starts_at=body.starts_at,
        duration_minutes=body.duration_minutes,
        location=body.location,
        cutoff_hours=body.cutoff_hours,
        now=command.at,
    )
    return meeting.id


def compile_agenda(command: Command[CompileAgenda], uow: UnitOfWork) -> str:
    version = agendas.compile_meeting_agenda(
        uow.session, command.target, as_of=command.at, made_by=command.coordinator
    )
    return str(version.version)


def edit_agenda(command: Command[AgendaEdit], uow: UnitOfWork) -> str:
    items = [i.model_dump(exclude_none=True) for i in command.body.items]
    version = agendas.edit_agenda(
        uow.session,
        command.target,
        items,
        note=command.body.note,
        made_by=command.coordinator,
        now=command.at,
    )
    return str(version.version)


def publish_agenda(command: Command[PublishAgenda], uow: UnitOfWork) -> str:
    return str(agendas.publish_agenda(uow.session, command.target, now=command.at).version)


def record_attendance(command: Command[AttendanceList], uow: UnitOfWork) -> str:
    for entry in command.body.entries:
        proceedings.record_attendance(
            uow.session,
            command.target,
            entry.organisation_id,
            present=entry.present,
            representative=entry.representative,
        )
    return command.target


def record_decision(command: Command[DecisionCreate], uow: UnitOfWork) -> str:
    """The decision, its actions, and the cross-sector projects it starts."""
    body = command.body
    if body.projects and body.outcome != "approved":
        raise InvalidInput("only an approving decision starts projects", field="projects")
    decision = proceedings.record_decision(
        uow.session,
        command.target,
        item_key=body.item_key,
        outcome=body.outcome,
        positions=[p.model_dump() for p in body.positions],
        minutes=body.minutes,
        actions=[a.model_dump() for a in body.actions],
        recorded_by=command.coordinator,
        now=command.at,
    )
    source, _, ident = body.item_key.partition(":")
    if source == "dispute":
        mediation.decided_at_meeting(
            uow.session,
            ident,
            meeting_id=command.target,
            decision_id=decision.id,
            outcome=body.outcome,
            at=command.at,
        )
    series_id = series.get_meeting(uow.session, command.target)[1].id
    origin = {
        "kind": "decision",
        "meeting_id": command.target,
        "decision_id": decision.id,
        "series_id": series_id,
    }
    for plan in body.projects:
        projects.start_decided(uow.session, new_id(uow.session), plan, origin, command.at)
    return decision.id


def close_meeting(command: Command[Closing], uow: UnitOfWork) -> str:
    return proceedings.close_meeting(
        uow.session, command.target, minutes=command.body.minutes, now=command.at
    ).id


def amend_record(command: Command[Amendment], uow: UnitOfWork) -> str:
    body = command.body
    amendment = record.add_amendment(
        uow.session,
        command.target,
        text=body.text,
        reason=body.reason,
        by=command.coordinator,
        now=command.at,
    )
    return amendment.id


# -- the parties' events ----------------------------------------------------------------------


def agenda_item_raised(event: Applied[AgendaItemProposed], uow: UnitOfWork) -> None:
    """An item an organisation proposes for the agenda (a community's dispute goes to mediation
    first: ``mediation/handlers.py``)."""
    sources.raise_agenda_item(
        uow.session, event.data, fallback_region=event.envelope.region, at=event.envelope.time
    )


def invitation_answered(event: Applied[InvitationAnswered], uow: UnitOfWork) -> None:
    data = event.data
    proceedings.answer_invitation(
        uow.session, data.meeting_id, data.organisation_id, data.reply, data.delegate
    )


def action_progressed(event: Applied[ActionProgressed], uow: UnitOfWork) -> None:
    data = event.data
    action = follow_up.report_progress(
        uow.session,
        data.action_id,
        data.organisation_id,
        status=data.status,
        note=data.note,
        evidence_url=data.evidence_url,
        at=event.envelope.time,
    )
    if action is None:
        raise Forbidden(
            f"organisation {data.organisation_id} owns no action {data.action_id}", field="action_id"
        )


def minutes_approved(event: Applied[MinutesApproved], uow: UnitOfWork) -> None:
    data = event.data
    minutes = record.approve_minutes(
        uow.session, data.meeting_id, data.organisation_id, data.record_hash, event.envelope.time
    )
    if minutes is None:
        raise Forbidden(
            "the approval names no current minutes this organisation is party to", field="record_hash"
        )


COMMAND_HANDLERS: dict[type[CommandBody], CommandHandler] = {
    SeriesCreate: create_series,
    MeetingCreate: schedule_meeting,
    CompileAgenda: compile_agenda,
    AgendaEdit: edit_agenda,
    PublishAgenda: publish_agenda,
    AttendanceList: record_attendance,
    DecisionCreate: record_decision,
    Closing: close_meeting,
    Amendment: amend_record,
}
EVENT_HANDLERS: dict[type[BaseModel], EventHandler] = {
    AgendaItemProposed: agenda_item_raised,
    InvitationAnswered: invitation_answered,
    ActionProgressed: action_progressed,
    MinutesApproved: minutes_approved,
}
