"""Reads of meetings for the API: every query the routes need, returning the read models of
``schemas.py`` (or, for the exports, the rows they format)."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.coordinator.meetings.agendas import latest_agenda
from services.coordinator.meetings.follow_up import action_data, series_history
from services.coordinator.meetings.models import (
    ActionItem,
    AgendaVersion,
    Decision,
    Invitation,
    Meeting,
    MeetingRecord,
    MeetingSeries,
)
from services.coordinator.meetings.proceedings import quorum
from services.coordinator.meetings.record import record_data, verify_chain
from services.coordinator.meetings.schemas import (
    ActionRead,
    AgendaVersionRead,
    ChainCheck,
    DecisionRead,
    MeetingDetail,
    MeetingRead,
    QuorumRead,
    RecordRead,
    RecordWithChain,
    SeriesDetail,
    SeriesRead,
)
from services.coordinator.meetings.series import get_meeting, get_series
from shared.errors import NotFound

__all__ = [
    "action_rows",
    "actions",
    "agenda",
    "agenda_versions",
    "all_series",
    "decision",
    "meeting",
    "meeting_and_series",
    "meeting_detail",
    "minutes_with_amendments",
    "published_agendas",
    "quorum_of",
    "record",
    "records",
    "series_detail",
    "series_meetings",
    "series_read",
]


def series_read(session: Session, series_id: str) -> SeriesRead:
    return SeriesRead.model_validate(get_series(session, series_id))


def all_series(session: Session) -> list[SeriesRead]:
    rows = session.scalars(select(MeetingSeries).order_by(MeetingSeries.created_at))
    return [SeriesRead.model_validate(s) for s in rows]


def series_detail(session: Session, series_id: str) -> SeriesDetail:
    """The series with what each meeting decided and the check of its record's chain."""
    series = SeriesRead.model_validate(get_series(session, series_id))
    return SeriesDetail.model_validate(
        series.model_dump()
        | {
            "history": series_history(session, series_id),
            "record_chain": verify_chain(session, series_id),
        }
    )


def _meeting_fields(session: Session, meeting: Meeting) -> dict[str, Any]:
    invitations = session.scalars(select(Invitation).where(Invitation.meeting_id == meeting.id))
    return {
        "id": meeting.id,
        "series_id": meeting.series_id,
        "title": meeting.title,
        "starts_at": meeting.starts_at,
        "duration_minutes": meeting.duration_minutes,
        "location": meeting.location,
        "cutoff_at": meeting.cutoff_at,
        "status": meeting.status,
        "invitations": list(invitations),
    }


def meeting(session: Session, meeting_id: str) -> MeetingRead:
    """The meeting with its invitations and their answers."""
    found, _ = get_meeting(session, meeting_id)
    return MeetingRead.model_validate(_meeting_fields(session, found), from_attributes=True)


def meeting_and_series(session: Session, meeting_id: str) -> tuple[Meeting, MeetingSeries]:
    """The meeting and its series, for the calendar export."""
    return get_meeting(session, meeting_id)


def meeting_detail(session: Session, meeting_id: str) -> MeetingDetail:
    """The meeting with its invitations and its quorum."""
    found, _ = get_meeting(session, meeting_id)
    fields = _meeting_fields(session, found) | {"quorum": quorum(session, meeting_id)}
    return MeetingDetail.model_validate(fields, from_attributes=True)


def quorum_of(session: Session, meeting_id: str) -> QuorumRead:
    return QuorumRead.model_validate(quorum(session, meeting_id))


def agenda(session: Session, meeting_id: str, version: int | None = None) -> AgendaVersionRead:
    """Version ``version`` of the meeting's agenda, or the latest."""
    get_meeting(session, meeting_id)
    found = (
        session.get(AgendaVersion, (meeting_id, version)) if version else latest_agenda(session, meeting_id)
    )
    if found is None:
        raise NotFound("no such agenda version", field="version")
    return AgendaVersionRead.model_validate(found)


def agenda_versions(session: Session, meeting_id: str) -> list[AgendaVersionRead]:
    rows = session.scalars(
        select(AgendaVersion).where(AgendaVersion.meeting_id == meeting_id).order_by(AgendaVersion.version)
    )
    return [AgendaVersionRead.model_validate(v) for v in rows]


def decision(session: Session, decision_id: str) -> DecisionRead:
    """A decision with the actions it assigned."""
    found = session.get(Decision, decision_id)
    if found is None:
        raise NotFound("the decision was not recorded", field="item_key")
    assigned = session.scalars(select(ActionItem).where(ActionItem.decision_id == found.id))
    return DecisionRead.model_validate(
        {
            "id": found.id,
            "item_key": found.item_key,
            "title": found.title,
            "outcome": found.outcome,
            "positions": found.positions,
            "minutes": found.minutes,
            "recorded_by": found.recorded_by,
            "actions": [_action_read(a) for a in assigned],
        }
    )


def _action_read(action: ActionItem) -> ActionRead:
    return ActionRead.model_validate(action_data(action).model_dump())


def _record_read(found: MeetingRecord) -> RecordRead:
    return RecordRead.model_validate(
        record_data(found).model_dump() | {"created_at": found.created_at, "locked_at": found.locked_at}
    )


def record(session: Session, record_id: str) -> RecordRead:
    found = session.get(MeetingRecord, record_id)
    if found is None:
        raise NotFound("the record was not written", field="meeting_id")
    return _record_read(found)


def _meeting_records(session: Session, meeting_id: str) -> list[MeetingRecord]:
    """The meeting's minutes and amendments in order; 404 before it is closed."""
    get_meeting(session, meeting_id)
    rows = list(
        session.scalars(
            select(MeetingRecord)
            .where(MeetingRecord.meeting_id == meeting_id)
            .order_by(MeetingRecord.sequence)
        )
    )
    if not rows:
        raise NotFound("the meeting has no record yet: close it first", field="meeting_id")
    return rows


def records(session: Session, meeting_id: str) -> RecordWithChain:
    """The meeting's records with the check of its series' chain."""
    rows = _meeting_records(session, meeting_id)
    return RecordWithChain(
        records=[_record_read(r) for r in rows],
        chain=ChainCheck.model_validate(verify_chain(session, rows[0].series_id)),
    )


def minutes_with_amendments(session: Session, meeting_id: str) -> tuple[MeetingRecord, list[dict[str, Any]]]:
    """The minutes and the content of each amendment, for the exports."""
    rows = _meeting_records(session, meeting_id)
    return rows[0], [r.content for r in rows[1:]]


def actions(
    session: Session, *, status: str | None = None, owner: str | None = None, meeting_id: str | None = None
) -> list[ActionRead]:
    """Action items, overdue first, then by due date."""
    query = select(ActionItem)
    if status:
        query = query.where(ActionItem.status == status)
    if owner:
        query = query.where(ActionItem.owner_organisation_id == owner)
    if meeting_id:
        query = query.where(ActionItem.meeting_id == meeting_id)
    rows = sorted(session.scalars(query), key=lambda a: (a.status != "overdue", a.due_date, a.id))
    return [_action_read(a) for a in rows]


def action_rows(session: Session, meeting_id: str | None = None) -> Sequence[ActionItem]:
    """Action items by due date, for the CSV export."""
    query = select(ActionItem).order_by(ActionItem.due_date, ActionItem.id)
    if meeting_id:
        query = query.where(ActionItem.meeting_id == meeting_id)
    return session.scalars(query).all()


def series_meetings(session: Session, series_id: str) -> tuple[MeetingSeries, list[Meeting]]:
    series = get_series(session, series_id)
    rows = session.scalars(select(Meeting).where(Meeting.series_id == series_id).order_by(Meeting.starts_at))
    return series, list(rows)


def published_agendas(session: Session, meeting_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The items of each meeting's latest published agenda (none if it has none)."""
    out = {}
    for meeting_id in meeting_ids:
        version = session.scalar(
            select(AgendaVersion)
            .where(AgendaVersion.meeting_id == meeting_id, AgendaVersion.published.is_(True))
            .order_by(AgendaVersion.version.desc())
            .limit(1)
        )
        out[meeting_id] = version.items if version else []
    return out
