"""Agenda versions: compiled from live state (``sources.py`` and the rule in ``agenda.py``),
edited by a coordinator, published to the invited. Every compilation and every edit is a new
version; a closed meeting's agenda is fixed."""

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.coordinator.journal.service import new_id, publish
from services.coordinator.meetings.agenda import compile_agenda, slot_items
from services.coordinator.meetings.models import AgendaVersion, Meeting
from services.coordinator.meetings.series import get_meeting
from services.coordinator.meetings.sources import gather_candidates
from shared.errors import Conflict, InvalidInput
from shared.events.data import AgendaData

__all__ = [
    "compile_meeting_agenda",
    "edit_agenda",
    "latest_agenda",
    "meetings_due_for_agenda",
    "publish_agenda",
]


def _next_version(session: Session, meeting_id: str) -> int:
    return (
        int(
            session.scalar(
                select(func.coalesce(func.max(AgendaVersion.version), 0)).where(
                    AgendaVersion.meeting_id == meeting_id
                )
            )
            or 0
        )
        + 1
    )


def latest_agenda(session: Session, meeting_id: str) -> AgendaVersion | None:
    return session.scalar(
        select(AgendaVersion)
        .where(AgendaVersion.meeting_id == meeting_id)
        .order_by(AgendaVersion.version.desc())
        .limit(1)
    )


_KEPT = ("reason_code", "reason_params", "priority_rule_code", "priority_params", "priority_rule")


def _why(base: dict[str, Any]) -> dict[str, Any]:
    """Why an item is on the agenda and how it was placed, as codes (see ``agenda.py``): an
    existing item keeps its own (or, stored before the codes, its English rule)."""
    if base:
        return {k: base[k] for k in _KEPT if k in base}
    return {
        "reason_code": "agenda_added_by_coordinator",
        "reason_params": {},
        "priority_rule_code": "priority_placed_by_coordinator",
        "priority_params": {},
    }


def _open_for_agenda(meeting: Meeting) -> None:
    if meeting.status in ("closed", "locked"):
        raise Conflict(f"the meeting is {meeting.status}; its agenda is fixed", field="status")


def compile_meeting_agenda(
    session: Session, meeting_id: str, *, as_of: datetime, made_by: str
) -> AgendaVersion:
    """A new version compiled from the live state as of ``as_of`` (the cut-off)."""
    meeting, series = get_meeting(session, meeting_id)
    _open_for_agenda(meeting)
    items, overflow = compile_agenda(
        gather_candidates(session, series, meeting, as_of), meeting.duration_minutes
    )
    version = AgendaVersion(
        meeting_id=meeting.id,
        version=_next_version(session, meeting.id),
        items=items,
        overflow=overflow,
        made_by=made_by,
        note=f"compiled from live state as of {as_of.isoformat()}",
        published=False,
        created_at=as_of,
    )
    session.add(version)
    session.flush()
    return version


def edit_agenda(
    session: Session, meeting_id: str, items: list[dict[str, Any]], *, note: str, made_by: str, now: datetime
) -> AgendaVersion:
    """A coordinator's edit (reorder, change, add, drop) as a new version; slots are recomputed."""
    meeting, _ = get_meeting(session, meeting_id)
    _open_for_agenda(meeting)
    current = latest_agenda(session, meeting_id)
    known = {i["key"]: i for i in (current.items + current.overflow if current else [])}
    edited: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        base = known.get(item.get("key") or "", {})
        key = item.get("key") or f"manual:{new_id(session)}"
        if item.get("key") and not base:
            raise InvalidInput(
                f"item {position}: no item {key!r} on this agenda", field=f"items.{position}.key"
            )
        typed = item.get("reason") or base.get("reason")
        edited.append(
            {
                "key": key,
                "source": base.get("source", "coordinator"),
                "title": item.get("title") or base.get("title"),
                **_why(base),
                **({"reason": typed} if typed else {}),
                "link": base.get("link", ""),
                "organisation_id": base.get("organisation_id"),
                "since": base.get("since", now.isoformat()),
                "priority": base.get("priority"),
                "minutes": int(item.get("minutes") or base.get("minutes") or 10),
            }
        )
    placed, overflow = slot_items(edited, meeting.duration_minutes)
    if overflow:
        titles = ", ".join(str(i["title"]) for i in overflow)
        raise InvalidInput(
            f"these items do not fit in {meeting.duration_minutes} minutes: {titles}", field="items"
        )
    version = AgendaVersion(
        meeting_id=meeting_id,
        version=_next_version(session, meeting_id),
        items=placed,
        overflow=[],
        made_by=made_by,
        note=note,
        published=False,
        created_at=now,
    )
    session.add(version)
    session.flush()
    return version


def meetings_due_for_agenda(session: Session, now: datetime) -> list[str]:
    """Scheduled meetings past their cut-off that have no agenda yet."""
    compiled = select(AgendaVersion.meeting_id)
    query = (
        select(Meeting.id)
        .where(Meeting.status == "scheduled", Meeting.cutoff_at <= now, Meeting.id.not_in(compiled))
        .order_by(Meeting.id)
    )
    return list(session.scalars(query))


def publish_agenda(session: Session, meeting_id: str, *, now: datetime) -> AgendaVersion:
    """Publish the latest version to the invited."""
    meeting, series = get_meeting(session, meeting_id)
    _open_for_agenda(meeting)
    version = latest_agenda(session, meeting_id)
    if version is None:
        raise Conflict("compile or write an agenda before publishing it", field="agenda")
    version.published = True
    meeting.status = "published"
    session.flush()
    publish(
        session,
        "sifang.agenda.published.v1",
        AgendaData(
            meeting_id=meeting.id, version=version.version, invited=list(series.invited), items=version.items
        ),
        series.region,
        correlated=False,
    )
    return version
