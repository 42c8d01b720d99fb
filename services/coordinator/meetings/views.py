"""Routes for joint meetings: series, meetings, agendas, attendance, decisions, records,
follow-up and exports. Reading needs the scope ``read:meetings``; acting needs ``run:meetings``,
on a token tied to a coordinator account, whose name is recorded with what they do. Only the
admin token (bootstrap) may still name the coordinator in ``X-Coordinator`` (percent-encoded
UTF-8), unverified."""

from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Header, Query, Response, status
from sqlalchemy import select

from services.coordinator.access.tokens import Principal, RequireScope, require
from services.coordinator.instructions import carry_out
from services.coordinator.meetings import service as meetings
from services.coordinator.meetings.commands import (
    AgendaEdit,
    Amendment,
    Attendance,
    AttendanceList,
    Closing,
    CompileAgenda,
    DecisionCreate,
    MeetingCreate,
    PublishAgenda,
    SeriesCreate,
)
from services.coordinator.meetings.exports import (
    Language,
    actions_csv,
    calendar,
    minutes_html,
    minutes_markdown,
)
from services.coordinator.meetings.models import (
    ActionItem,
    AgendaVersion,
    Decision,
    Invitation,
    Meeting,
    MeetingRecord,
    MeetingSeries,
)
from services.coordinator.registry.models import RegisteredOrganisation
from shared.app import RuntimeDep, UowDep
from shared.db import UnitOfWork
from shared.errors import NotFound
from shared.paging import VersionNumber

__all__ = ["router"]

router = APIRouter(tags=["meetings"])
READ = require("read:meetings")


def _coordinator(
    who: Annotated[Principal, Depends(RequireScope("run:meetings"))],
    x_coordinator: Annotated[
        str, Header(max_length=300, description="admin token only: the acting coordinator's name")
    ] = "coordinator",
) -> str:
    """The acting coordinator's name: the account a token acts for; for the admin token, the
    name in ``X-Coordinator`` (percent-encoded UTF-8, as headers are ASCII)."""
    if who.token_id is not None:
        return who.display_name or who.name
    return unquote(x_coordinator)[:100]


Coordinator = Annotated[str, Depends(_coordinator)]
Lang = Annotated[Language, Query(description="zh or en")]


def _series(uow: UnitOfWork, series_id: str) -> MeetingSeries:
    series = uow.session.get(MeetingSeries, series_id)
    if series is None:
        raise NotFound(f"no series {series_id!r}", field="series_id")
    return series


def _series_read(series: MeetingSeries) -> dict[str, Any]:
    return {
        "id": series.id,
        "name": series.name,
        "kind": series.kind,
        "region": series.region,
        "cadence": series.cadence,
        "duration_minutes": series.duration_minutes,
        "invited": series.invited,
        "quorum_kinds": series.quorum_kinds,
    }


def _meeting_read(uow: UnitOfWork, meeting: Meeting) -> dict[str, Any]:
    invitations = uow.session.scalars(select(Invitation).where(Invitation.meeting_id == meeting.id))
    return {
        "id": meeting.id,
        "series_id": meeting.series_id,
        "title": meeting.title,
        "starts_at": meeting.starts_at,
        "duration_minutes": meeting.duration_minutes,
        "location": meeting.location,
        "cutoff_at": meeting.cutoff_at,
        "status": meeting.status,
        "invitations": [
            {
                "organisation_id": i.organisation_id,
                "reply": i.reply,
                "delegate": i.delegate,
                "present": i.present,
                "representative": i.representative,
            }
            for i in invitations
        ],
    }


def _agenda_version(uow: UnitOfWork, meeting_id: str, version: str) -> dict[str, Any]:
    found = uow.session.get(AgendaVersion, (meeting_id, int(version)))
    if found is None:
        raise NotFound("no such agenda version", field="version")
    return _agenda_read(found)


def _agenda_read(version: AgendaVersion) -> dict[str, Any]:
    return {
        "meeting_id": version.meeting_id,
        "version": version.version,
        "items": version.items,
        "overflow": version.overflow,
        "made_by": version.made_by,
        "note": version.note,
        "published": version.published,
        "created_at": version.created_at,
    }


@router.post("/series", status_code=status.HTTP_201_CREATED, summary="Define a meeting series")
def create_series(body: SeriesCreate, uow: UowDep, runtime: RuntimeDep, who: Coordinator) -> dict[str, Any]:
    series_id = carry_out(uow, runtime, body, coordinator=who)
    return _series_read(_series(uow, series_id))


@router.get("/series", dependencies=[READ], summary="Meeting series")
def list_series(uow: UowDep) -> list[dict[str, Any]]:
    return [
        _series_read(s) for s in uow.session.scalars(select(MeetingSeries).order_by(MeetingSeries.created_at))
    ]


@router.get(
    "/series/{series_id}",
    dependencies=[READ],
    summary="A series: its meetings, what they decided and what became of it",
)
def get_series(series_id: str, uow: UowDep) -> dict[str, Any]:
    series = _series(uow, series_id)
    return _series_read(series) | {
        "history": meetings.series_history(uow.session, series_id),
        "record_chain": meetings.verify_chain(uow.session, series_id),
    }


@router.post(
    "/series/{series_id}/meetings",
    status_code=status.HTTP_201_CREATED,
    summary="Schedule a meeting; the invited organisations are told",
)
def schedule(
    series_id: str, body: MeetingCreate, uow: UowDep, runtime: RuntimeDep, who: Coordinator
) -> dict[str, Any]:
    _series(uow, series_id)
    meeting_id = carry_out(uow, runtime, body, target=series_id, coordinator=who)
    return _meeting_read(uow, meetings.get_meeting(uow.session, meeting_id)[0])


@router.get(
    "/meetings/{meeting_id}", dependencies=[READ], summary="A meeting with its invitations and replies"
)
def get_meeting(meeting_id: str, uow: UowDep) -> dict[str, Any]:
    meeting, _ = meetings.get_meeting(uow.session, meeting_id)
    return _meeting_read(uow, meeting) | {"quorum": meetings.quorum(uow.session, meeting_id)}


@router.post(
    "/meetings/{meeting_id}/agenda/compile",
    status_code=status.HTTP_201_CREATED,
    summary="Compile a draft agenda from live state (a new version)",
)
def compile_(meeting_id: str, uow: UowDep, runtime: RuntimeDep, who: Coordinator) -> dict[str, Any]:
    version = carry_out(uow, runtime, CompileAgenda(), target=meeting_id, coordinator=who)
    return _agenda_version(uow, meeting_id, version)


@router.get(
    "/meetings/{meeting_id}/agenda", dependencies=[READ], summary="The latest agenda version, or ?version=N"
)
def get_agenda(meeting_id: str, uow: UowDep, version: VersionNumber = None) -> dict[str, Any]:
    meetings.get_meeting(uow.session, meeting_id)
    found = (
        uow.session.get(AgendaVersion, (meeting_id, version))
        if version
        else meetings.latest_agenda(uow.session, meeting_id)
    )
    if found is None:
        raise NotFound("no such agenda version", field="version")
    return _agenda_read(found)


@router.get(
    "/meetings/{meeting_id}/agenda/versions", dependencies=[READ], summary="Every version of the agenda"
)
def agenda_versions(meeting_id: str, uow: UowDep) -> list[dict[str, Any]]:
    rows = uow.session.scalars(
        select(AgendaVersion).where(AgendaVersion.meeting_id == meeting_id).order_by(AgendaVersion.version)
    )
    return [_agenda_read(v) for v in rows]


@router.put("/meetings/{meeting_id}/agenda", summary="Edit the agenda: reorder, change, add, drop")
def edit(
    meeting_id: str, body: AgendaEdit, uow: UowDep, runtime: RuntimeDep, who: Coordinator
) -> dict[str, Any]:
    version = carry_out(uow, runtime, body, target=meeting_id, coordinator=who)
    return _agenda_version(uow, meeting_id, version)


@router.post("/meetings/{meeting_id}/agenda/publish", summary="Publish the latest agenda to the invited")
def publish(meeting_id: str, uow: UowDep, runtime: RuntimeDep, who: Coordinator) -> dict[str, Any]:
    version = carry_out(uow, runtime, PublishAgenda(), target=meeting_id, coordinator=who)
    return _agenda_version(uow, meeting_id, version)


@router.post("/meetings/{meeting_id}/attendance", summary="Record whether an organisation attends")
def attendance(
    meeting_id: str, body: Attendance, uow: UowDep, runtime: RuntimeDep, who: Coordinator
) -> dict[str, Any]:
    command = AttendanceList(entries=[body])
    carry_out(uow, runtime, command, target=meeting_id, coordinator=who)
    return meetings.quorum(uow.session, meeting_id)


@router.get(
    "/meetings/{meeting_id}/quorum",
    dependencies=[READ],
    summary="Whether the quorum is met, and who is missing",
)
def get_quorum(meeting_id: str, uow: UowDep) -> dict[str, Any]:
    return meetings.quorum(uow.session, meeting_id)


@router.post(
    "/meetings/{meeting_id}/decisions",
    status_code=status.HTTP_201_CREATED,
    summary="Record a decision on an agenda item: positions, outcome, minutes, actions",
)
def decide(
    meeting_id: str, body: DecisionCreate, uow: UowDep, runtime: RuntimeDep, who: Coordinator
) -> dict[str, Any]:
    decision_id = carry_out(uow, runtime, body, target=meeting_id, coordinator=who)
    decision = uow.session.get(Decision, decision_id)
    if decision is None:
        raise NotFound("the decision was not recorded", field="item_key")
    actions = uow.session.scalars(select(ActionItem).where(ActionItem.decision_id == decision.id))
    return {
        "id": decision.id,
        "item_key": decision.item_key,
        "title": decision.title,
        "outcome": decision.outcome,
        "positions": decision.positions,
        "minutes": decision.minutes,
        "recorded_by": decision.recorded_by,
        "actions": [meetings.action_data(a).model_dump(mode="json") for a in actions],
    }


def _record(uow: UnitOfWork, record_id: str) -> MeetingRecord:
    record = uow.session.get(MeetingRecord, record_id)
    if record is None:
        raise NotFound("the record was not written", field="meeting_id")
    return record


def _record_read(record: MeetingRecord) -> dict[str, Any]:
    return meetings.record_data(record).model_dump(mode="json") | {
        "created_at": record.created_at,
        "locked_at": record.locked_at,
    }


@router.post(
    "/meetings/{meeting_id}/close", summary="Close the meeting: the minutes go to the parties to approve"
)
def close(
    meeting_id: str, body: Closing, uow: UowDep, runtime: RuntimeDep, who: Coordinator
) -> dict[str, Any]:
    record_id = carry_out(uow, runtime, body, target=meeting_id, coordinator=who)
    return _record_read(_record(uow, record_id))


@router.post(
    "/meetings/{meeting_id}/amendments",
    status_code=status.HTTP_201_CREATED,
    summary="Append a correction to a closed record",
)
def amend(
    meeting_id: str, body: Amendment, uow: UowDep, runtime: RuntimeDep, who: Coordinator
) -> dict[str, Any]:
    record_id = carry_out(uow, runtime, body, target=meeting_id, coordinator=who)
    return _record_read(_record(uow, record_id))


def _records(uow: UnitOfWork, meeting_id: str) -> tuple[MeetingRecord, list[dict[str, Any]]]:
    meetings.get_meeting(uow.session, meeting_id)
    rows = list(
        uow.session.scalars(
            select(MeetingRecord)
            .where(MeetingRecord.meeting_id == meeting_id)
            .order_by(MeetingRecord.sequence)
        )
    )
    if not rows:
        raise NotFound("the meeting has no record yet: close it first", field="meeting_id")
    return rows[0], [r.content for r in rows[1:]]


@router.get(
    "/meetings/{meeting_id}/record",
    dependencies=[READ],
    summary="The record and its amendments, with the chain check",
)
def record(meeting_id: str, uow: UowDep) -> dict[str, Any]:
    minutes, _ = _records(uow, meeting_id)
    rows = uow.session.scalars(
        select(MeetingRecord).where(MeetingRecord.meeting_id == meeting_id).order_by(MeetingRecord.sequence)
    )
    return {
        "records": [_record_read(r) for r in rows],
        "chain": meetings.verify_chain(uow.session, minutes.series_id),
    }


def _names(uow: UnitOfWork) -> dict[str, str]:
    return {o.id: o.name for o in uow.session.scalars(select(RegisteredOrganisation))}


@router.get("/meetings/{meeting_id}/minutes.md", dependencies=[READ], summary="The minutes as Markdown")
def minutes_md(meeting_id: str, uow: UowDep, lang: Lang = "zh") -> Response:
    minutes, amendments = _records(uow, meeting_id)
    text = minutes_markdown(minutes.content, minutes.record_hash, _names(uow), lang, amendments)
    return Response(text, media_type="text/markdown; charset=utf-8")


@router.get(
    "/meetings/{meeting_id}/minutes.html", dependencies=[READ], summary="The minutes as a printable page"
)
def minutes_page(meeting_id: str, uow: UowDep, lang: Lang = "zh") -> Response:
    minutes, amendments = _records(uow, meeting_id)
    page = minutes_html(minutes.content, minutes.record_hash, _names(uow), lang, amendments)
    return Response(page, media_type="text/html; charset=utf-8")


@router.get("/actions", dependencies=[READ], summary="Action items, overdue first")
def list_actions(
    uow: UowDep, status: str | None = None, owner: str | None = None, meeting_id: str | None = None
) -> list[dict[str, Any]]:
    query = select(ActionItem)
    if status:
        query = query.where(ActionItem.status == status)
    if owner:
        query = query.where(ActionItem.owner_organisation_id == owner)
    if meeting_id:
        query = query.where(ActionItem.meeting_id == meeting_id)
    rows = sorted(uow.session.scalars(query), key=lambda a: (a.status != "overdue", a.due_date, a.id))
    return [meetings.action_data(a).model_dump(mode="json") for a in rows]


@router.get("/actions.csv", dependencies=[READ], summary="Action items as CSV")
def actions_export(uow: UowDep, lang: Lang = "zh", meeting_id: str | None = None) -> Response:
    query = select(ActionItem).order_by(ActionItem.due_date, ActionItem.id)
    if meeting_id:
        query = query.where(ActionItem.meeting_id == meeting_id)
    text = actions_csv(uow.session.scalars(query), _names(uow), lang)
    return Response(text, media_type="text/csv; charset=utf-8")


def _agendas(uow: UnitOfWork, meeting_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for meeting_id in meeting_ids:
        version = uow.session.scalar(
            select(AgendaVersion)
            .where(AgendaVersion.meeting_id == meeting_id, AgendaVersion.published.is_(True))
            .order_by(AgendaVersion.version.desc())
            .limit(1)
        )
        out[meeting_id] = version.items if version else []
    return out


@router.get("/meetings/{meeting_id}/calendar.ics", dependencies=[READ], summary="The meeting as iCalendar")
def meeting_ics(meeting_id: str, uow: UowDep) -> Response:
    meeting, series = meetings.get_meeting(uow.session, meeting_id)
    body = calendar(series, [meeting], _agendas(uow, [meeting.id]))
    return Response(body, media_type="text/calendar; charset=utf-8")


@router.get(
    "/series/{series_id}/calendar.ics",
    dependencies=[READ],
    summary="Every meeting of the series as iCalendar",
)
def series_ics(series_id: str, uow: UowDep) -> Response:
    series = _series(uow, series_id)
    rows = list(
        uow.session.scalars(select(Meeting).where(Meeting.series_id == series_id).order_by(Meeting.starts_at))
    )
    return Response(
        calendar(series, rows, _agendas(uow, [m.id for m in rows])), media_type="text/calendar; charset=utf-8"
    )
