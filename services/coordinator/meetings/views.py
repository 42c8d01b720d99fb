"""Routes for joint meetings: series, meetings, agendas, attendance, decisions, records,
follow-up and exports. Reading needs the scope ``read:meetings``; acting needs ``run:meetings``,
on a token tied to a coordinator account, whose name is recorded with what they do. Only the
admin token (bootstrap) may still name the coordinator in ``X-Coordinator`` (percent-encoded
UTF-8), unverified. Routes only parse input, hand a command to ``carry_out`` or call a query
(``queries.py``), and return a read model (``schemas.py``)."""

from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Header, Query, Response, status
from fastapi.responses import HTMLResponse

from services.coordinator.access.dependencies import RequireScope, require
from services.coordinator.access.scopes import Principal
from services.coordinator.instructions import carry_out
from services.coordinator.meetings import queries
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
from services.coordinator.meetings.schemas import (
    ActionRead,
    AgendaVersionRead,
    DecisionRead,
    MeetingDetail,
    MeetingRead,
    QuorumRead,
    RecordRead,
    RecordWithChain,
    SeriesDetail,
    SeriesRead,
)
from services.coordinator.registry.queries import organisation_names
from shared.app import RuntimeDep, UowDep
from shared.csv_export import CsvResponse
from shared.paging import VersionNumber

__all__ = ["router"]


class MarkdownResponse(Response):
    media_type = "text/markdown; charset=utf-8"


class CalendarResponse(Response):
    media_type = "text/calendar; charset=utf-8"


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


@router.post(
    "/series",
    status_code=status.HTTP_201_CREATED,
    response_model=SeriesRead,
    summary="Define a meeting series",
)
def create_series(body: SeriesCreate, uow: UowDep, runtime: RuntimeDep, who: Coordinator) -> SeriesRead:
    series_id = carry_out(uow, runtime, body, coordinator=who)
    return queries.series_read(uow.session, series_id)


@router.get("/series", dependencies=[READ], response_model=list[SeriesRead], summary="Meeting series")
def list_series(uow: UowDep) -> list[SeriesRead]:
    return queries.all_series(uow.session)


@router.get(
    "/series/{series_id}",
    dependencies=[READ],
    response_model=SeriesDetail,
    response_model_exclude_unset=True,  # a broken chain has no head
    summary="A series: its meetings, what they decided and what became of it",
)
def get_series(series_id: str, uow: UowDep) -> SeriesDetail:
    return queries.series_detail(uow.session, series_id)


@router.post(
    "/series/{series_id}/meetings",
    status_code=status.HTTP_201_CREATED,
    response_model=MeetingRead,
    summary="Schedule a meeting; the invited organisations are told",
)
def schedule(
    series_id: str, body: MeetingCreate, uow: UowDep, runtime: RuntimeDep, who: Coordinator
) -> MeetingRead:
    queries.series_read(uow.session, series_id)  # 404 before anything goes on the stream
    meeting_id = carry_out(uow, runtime, body, target=series_id, coordinator=who)
    return queries.meeting(uow.session, meeting_id)


@router.get(
    "/meetings/{meeting_id}",
    dependencies=[READ],
    response_model=MeetingDetail,
    summary="A meeting with its invitations and replies",
)
def get_meeting(meeting_id: str, uow: UowDep) -> MeetingDetail:
    return queries.meeting_detail(uow.session, meeting_id)


@router.post(
    "/meetings/{meeting_id}/agenda/compile",
    status_code=status.HTTP_201_CREATED,
    response_model=AgendaVersionRead,
    summary="Compile a draft agenda from live state (a new version)",
)
def compile_(meeting_id: str, uow: UowDep, runtime: RuntimeDep, who: Coordinator) -> AgendaVersionRead:
    version = carry_out(uow, runtime, CompileAgenda(), target=meeting_id, coordinator=who)
    return queries.agenda(uow.session, meeting_id, int(version))


@router.get(
    "/meetings/{meeting_id}/agenda",
    dependencies=[READ],
    response_model=AgendaVersionRead,
    summary="The latest agenda version, or ?version=N",
)
def get_agenda(meeting_id: str, uow: UowDep, version: VersionNumber = None) -> AgendaVersionRead:
    return queries.agenda(uow.session, meeting_id, version)


@router.get(
    "/meetings/{meeting_id}/agenda/versions",
    dependencies=[READ],
    response_model=list[AgendaVersionRead],
    summary="Every version of the agenda",
)
def agenda_versions(meeting_id: str, uow: UowDep) -> list[AgendaVersionRead]:
    return queries.agenda_versions(uow.session, meeting_id)


@router.put(
    "/meetings/{meeting_id}/agenda",
    response_model=AgendaVersionRead,
    summary="Edit the agenda: reorder, change, add, drop",
)
def edit(
    meeting_id: str, body: AgendaEdit, uow: UowDep, runtime: RuntimeDep, who: Coordinator
) -> AgendaVersionRead:
    version = carry_out(uow, runtime, body, target=meeting_id, coordinator=who)
    return queries.agenda(uow.session, meeting_id, int(version))


@router.post(
    "/meetings/{meeting_id}/agenda/publish",
    response_model=AgendaVersionRead,
    summary="Publish the latest agenda to the invited",
)
def publish(meeting_id: str, uow: UowDep, runtime: RuntimeDep, who: Coordinator) -> AgendaVersionRead:
    version = carry_out(uow, runtime, PublishAgenda(), target=meeting_id, coordinator=who)
    return queries.agenda(uow.session, meeting_id, int(version))


@router.post(
    "/meetings/{meeting_id}/attendance",
    response_model=QuorumRead,
    summary="Record whether an organisation attends",
)
def attendance(
    meeting_id: str, body: Attendance, uow: UowDep, runtime: RuntimeDep, who: Coordinator
) -> QuorumRead:
    command = AttendanceList(entries=[body])
    carry_out(uow, runtime, command, target=meeting_id, coordinator=who)
    return queries.quorum_of(uow.session, meeting_id)


@router.get(
    "/meetings/{meeting_id}/quorum",
    dependencies=[READ],
    response_model=QuorumRead,
    summary="Whether the quorum is met, and who is missing",
)
def get_quorum(meeting_id: str, uow: UowDep) -> QuorumRead:
    return queries.quorum_of(uow.session, meeting_id)


@router.post(
    "/meetings/{meeting_id}/decisions",
    status_code=status.HTTP_201_CREATED,
    response_model=DecisionRead,
    summary="Record a decision on an agenda item: positions, outcome, minutes, actions",
)
def decide(
    meeting_id: str, body: DecisionCreate, uow: UowDep, runtime: RuntimeDep, who: Coordinator
) -> DecisionRead:
    decision_id = carry_out(uow, runtime, body, target=meeting_id, coordinator=who)
    return queries.decision(uow.session, decision_id)


@router.post(
    "/meetings/{meeting_id}/close",
    response_model=RecordRead,
    summary="Close the meeting: the minutes go to the parties to approve",
)
def close(meeting_id: str, body: Closing, uow: UowDep, runtime: RuntimeDep, who: Coordinator) -> RecordRead:
    record_id = carry_out(uow, runtime, body, target=meeting_id, coordinator=who)
    return queries.record(uow.session, record_id)


@router.post(
    "/meetings/{meeting_id}/amendments",
    status_code=status.HTTP_201_CREATED,
    response_model=RecordRead,
    summary="Append a correction to a closed record",
)
def amend(meeting_id: str, body: Amendment, uow: UowDep, runtime: RuntimeDep, who: Coordinator) -> RecordRead:
    record_id = carry_out(uow, runtime, body, target=meeting_id, coordinator=who)
    return queries.record(uow.session, record_id)


@router.get(
    "/meetings/{meeting_id}/record",
    dependencies=[READ],
    response_model=RecordWithChain,
    response_model_exclude_unset=True,  # a broken chain has no head
    summary="The record and its amendments, with the chain check",
)
def record(meeting_id: str, uow: UowDep) -> RecordWithChain:
    return queries.records(uow.session, meeting_id)


@router.get(
    "/meetings/{meeting_id}/minutes.md",
    dependencies=[READ],
    summary="The minutes as Markdown",
    response_class=MarkdownResponse,
)
def minutes_md(meeting_id: str, uow: UowDep, lang: Lang = "zh") -> Response:
    minutes, amendments = queries.minutes_with_amendments(uow.session, meeting_id)
    names = organisation_names(uow.session)
    text = minutes_markdown(minutes.content, minutes.record_hash, names, lang, amendments)
    return Response(text, media_type="text/markdown; charset=utf-8")


@router.get(
    "/meetings/{meeting_id}/minutes.html",
    dependencies=[READ],
    summary="The minutes as a printable page",
    response_class=HTMLResponse,
)
def minutes_page(meeting_id: str, uow: UowDep, lang: Lang = "zh") -> Response:
    minutes, amendments = queries.minutes_with_amendments(uow.session, meeting_id)
    names = organisation_names(uow.session)
    page = minutes_html(minutes.content, minutes.record_hash, names, lang, amendments)
    return Response(page, media_type="text/html; charset=utf-8")


@router.get(
    "/actions", dependencies=[READ], response_model=list[ActionRead], summary="Action items, overdue first"
)
def list_actions(
    uow: UowDep, status: str | None = None, owner: str | None = None, meeting_id: str | None = None
) -> list[ActionRead]:
    return queries.actions(uow.session, status=status, owner=owner, meeting_id=meeting_id)


@router.get("/actions.csv", dependencies=[READ], summary="Action items as CSV", response_class=CsvResponse)
def actions_export(uow: UowDep, lang: Lang = "zh", meeting_id: str | None = None) -> Response:
    rows = queries.action_rows(uow.session, meeting_id)
    text = actions_csv(rows, organisation_names(uow.session), lang)
    return CsvResponse(text)


@router.get(
    "/meetings/{meeting_id}/calendar.ics",
    dependencies=[READ],
    summary="The meeting as iCalendar",
    response_class=CalendarResponse,
)
def meeting_ics(meeting_id: str, uow: UowDep, lang: Lang = "zh") -> Response:
    meeting, series = queries.meeting_and_series(uow.session, meeting_id)
    body = calendar(series, [meeting], queries.published_agendas(uow.session, [meeting.id]), lang)
    return Response(body, media_type="text/calendar; charset=utf-8")


@router.get(
    "/series/{series_id}/calendar.ics",
    dependencies=[READ],
    summary="Every meeting of the series as iCalendar",
    response_class=CalendarResponse,
)
def series_ics(series_id: str, uow: UowDep, lang: Lang = "zh") -> Response:
    series, rows = queries.series_meetings(uow.session, series_id)
    body = calendar(series, rows, queries.published_agendas(uow.session, [m.id for m in rows]), lang)
    return Response(body, media_type="text/calendar; charset=utf-8")
