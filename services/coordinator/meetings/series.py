"""Meeting series and scheduling: defining a series, scheduling its meetings (the invited are
told), and finding a meeting with its series."""

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.coordinator.journal.service import new_id, publish
from services.coordinator.meetings.models import Invitation, Meeting, MeetingSeries
from services.coordinator.registry.models import RegisteredOrganisation
from shared.errors import InvalidInput, NotFound
from shared.events.data import MeetingData

__all__ = ["create_series", "get_meeting", "get_series", "meeting_data", "schedule_meeting"]


def get_series(session: Session, series_id: str) -> MeetingSeries:
    series = session.get(MeetingSeries, series_id)
    if series is None:
        raise NotFound(f"no series {series_id!r}", field="series_id")
    return series


def get_meeting(session: Session, meeting_id: str) -> tuple[Meeting, MeetingSeries]:
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound(f"no meeting {meeting_id!r}", field="meeting_id")
    series = session.get(MeetingSeries, meeting.series_id)
    assert series is not None
    return meeting, series


def meeting_data(meeting: Meeting, series: MeetingSeries) -> MeetingData:
    return MeetingData(
        meeting_id=meeting.id,
        series_id=series.id,
        series_name=series.name,
        meeting_kind=series.kind,
        region=series.region,
        title=meeting.title,
        starts_at=meeting.starts_at,
        duration_minutes=meeting.duration_minutes,
        location=meeting.location,
        invited=list(series.invited),
        status=meeting.status,
    )


def create_series(
    session: Session,
    *,
    name: str,
    kind: str,
    region: str,
    cadence: str,
    duration_minutes: int,
    invited: list[str],
    quorum_kinds: list[str],
    now: datetime,
) -> MeetingSeries:
    """A series of meetings in a region, inviting registered organisations."""
    known = set(
        session.scalars(select(RegisteredOrganisation.id).where(RegisteredOrganisation.id.in_(invited)))
    )
    if not invited:
        raise InvalidInput("invite at least one organisation", field="invited")
    if missing := [o for o in invited if o not in known]:
        raise InvalidInput(f"not registered organisations: {', '.join(missing)}", field="invited")
    series = MeetingSeries(
        id=new_id(session),
        name=name,
        kind=kind,
        region=region,
        cadence=cadence,
        duration_minutes=duration_minutes,
        invited=sorted(set(invited)),
        quorum_kinds=list(quorum_kinds),
        created_at=now,
    )
    session.add(series)
    session.flush()
    return series


def schedule_meeting(
    session: Session,
    series: MeetingSeries,
    *,
    title: str,
    starts_at: datetime,
    duration_minutes: int | None,
    location: str,
    cutoff_hours: float,
    now: datetime,
) -> Meeting:
    """A meeting of the series, inviting its organisations; published as scheduled."""
    if starts_at <= now:
        raise InvalidInput("a meeting is scheduled in the future", field="starts_at")
    meeting = Meeting(
        id=new_id(session),
        series_id=series.id,
        title=title,
        starts_at=starts_at,
        duration_minutes=duration_minutes or series.duration_minutes,
        location=location,
        cutoff_at=starts_at - timedelta(hours=cutoff_hours),
        status="scheduled",
        created_at=now,
    )
    session.add(meeting)
    session.flush()
    for org in series.invited:
        session.add(
            Invitation(
                meeting_id=meeting.id,
                organisation_id=org,
                reply="pending",
                delegate="",
                present=None,
                representative="",
            )
        )
    session.flush()
    publish(
        session, "sifang.meeting.scheduled.v1", meeting_data(meeting, series), series.region, correlated=False
    )
    return meeting
