"""Joint meetings: series, scheduling, agendas, attendance and quorum, decisions and action
items, the hash-chained record of minutes and amendments, and follow-up until done.

Handlers take a session (inside the caller's transaction) and a ``now``, so tests control
the clock. What the parties need to know is published through the outbox.
"""

import hashlib
import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from services.coordinator.book.models import BookNeed, BookOffer
from services.coordinator.book.queries import in_region
from services.coordinator.journal.service import new_id, publish
from services.coordinator.matches.models import Match
from services.coordinator.meetings.agenda import AgendaCandidate, compile_agenda, slot_items
from services.coordinator.meetings.models import (
    ActionItem,
    AgendaProposal,
    AgendaVersion,
    Decision,
    Invitation,
    Meeting,
    MeetingRecord,
    MeetingSeries,
)
from services.coordinator.registry.models import RegisteredOrganisation
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.events.data import (
    ActionData,
    AgendaData,
    AgendaItemProposed,
    DisputeRaised,
    MeetingData,
    RecordData,
)

__all__ = [
    "action_data",
    "add_amendment",
    "close_meeting",
    "compile_meeting_agenda",
    "create_series",
    "edit_agenda",
    "gather_candidates",
    "mark_overdue",
    "meetings_due_for_agenda",
    "publish_action",
    "publish_agenda",
    "quorum",
    "record_attendance",
    "record_decision",
    "schedule_meeting",
    "verify_chain",
]

GENESIS = "0" * 64


DEFAULT_UNMATCHED_DAYS = 14


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


# -- agendas --------------------------------------------------------------------------------


def gather_candidates(
    session: Session,
    series: MeetingSeries,
    meeting: Meeting,
    as_of: datetime,
    unmatched_days: int = DEFAULT_UNMATCHED_DAYS,
) -> list[AgendaCandidate]:
    """Everything in the live state that should come before this meeting."""
    found: list[AgendaCandidate] = []
    proposals = session.scalars(
        select(AgendaProposal).where(
            AgendaProposal.status == "pending",
            AgendaProposal.raised_at <= as_of,
            or_(
                AgendaProposal.series_id == series.id,
                (AgendaProposal.series_id.is_(None)) & in_region(AgendaProposal.region, series.region),
            ),
        )
    )
    for p in proposals:
        source = "dispute" if p.source == "dispute" else "proposal"
        reason = "a dispute raised by a community" if source == "dispute" else "proposed by an organisation"
        found.append(
            AgendaCandidate(
                f"{source}:{p.id}",
                source,
                p.title,
                reason,
                f"/{source}s/{p.id}",
                p.raised_at,
                p.organisation_id,
            )
        )

    threshold = as_of - timedelta(days=unmatched_days)
    matched = select(Match.need_id).where(Match.status.in_(("proposed", "confirmed", "fulfilled")))
    for need in session.scalars(
        select(BookNeed).where(
            BookNeed.status == "open",
            BookNeed.published_at <= threshold,
            in_region(BookNeed.region, series.region),
            BookNeed.id.not_in(matched),
        )
    ):
        waited = (as_of - need.published_at).days
        found.append(
            AgendaCandidate(
                f"need:{need.id}",
                "unmatched_need",
                need.title,
                f"unmatched for {waited} days",
                f"/needs/{need.id}",
                need.published_at,
                need.organisation_id,
                weight=(waited - unmatched_days) // 7,
            )
        )

    refusals = (
        select(Match.need_id, func.count(), func.min(Match.updated_at))
        .where(
            Match.status.in_(("declined", "expired")),
            in_region(Match.region, series.region),
            Match.updated_at <= as_of,
        )
        .group_by(Match.need_id)
        .having(func.count() >= 2)
    )
    for need_id, count, first in session.execute(refusals):
        stalled = session.get(BookNeed, need_id)
        title = stalled.title if stalled else need_id
        found.append(
            AgendaCandidate(
                f"stalled:{need_id}",
                "stalled_match",
                title,
                f"{count} proposals declined or expired",
                f"/matches?need_id={need_id}",
                first,
                stalled.organisation_id if stalled else None,
                weight=count - 2,
            )
        )

    for action in session.scalars(
        select(ActionItem)
        .join(Meeting, Meeting.id == ActionItem.meeting_id)
        .where(Meeting.series_id == series.id, ActionItem.status == "overdue")
    ):
        days = (as_of.date() - action.due_date).days
        found.append(
            AgendaCandidate(
                f"action:{action.id}",
                "overdue_action",
                action.title,
                f"overdue since {action.due_date}",
                f"/actions/{action.id}",
                datetime.combine(action.due_date, datetime.min.time(), UTC),
                action.owner_organisation_id,
                weight=days,
            )
        )

    previous = session.scalar(
        select(func.max(Meeting.starts_at)).where(
            Meeting.series_id == series.id, Meeting.starts_at < meeting.starts_at
        )
    )
    since = previous or series.created_at
    for offer in session.scalars(
        select(BookOffer).where(
            BookOffer.kind == "government",
            BookOffer.status == "open",
            BookOffer.published_at > since,
            BookOffer.published_at <= as_of,
            in_region(BookOffer.region, series.region),
        )
    ):
        found.append(
            AgendaCandidate(
                f"programme:{offer.id}",
                "new_programme",
                offer.title,
                "a new government programme",
                f"/offers/{offer.id}",
                offer.published_at,
                offer.organisation_id,
            )
        )
    return found


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


def _open_for_agenda(meeting: Meeting) -> None:
    if meeting.status in ("closed", "locked"):
        raise Conflict(f"the meeting is {meeting.status}; its agenda is fixed", field="status")


def compile_meeting_agenda(
    session: Session, meeting_id: str, *, as_of: datetime, made_by: str
) -> AgendaVersion:
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
        edited.append(
            {
                "key": key,
                "source": base.get("source", "coordinator"),
                "title": item.get("title") or base.get("title"),
                "reason": item.get("reason") or base.get("reason", "added by a coordinator"),
                "link": base.get("link", ""),
                "organisation_id": base.get("organisation_id"),
                "since": base.get("since", now.isoformat()),
                "priority": base.get("priority"),
                "priority_rule": base.get("priority_rule", "placed by a coordinator"),
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


# -- the meeting ----------------------------------------------------------------------------


def _invitation(session: Session, meeting_id: str, organisation_id: str, field: str) -> Invitation:
    invitation = session.get(Invitation, (meeting_id, organisation_id))
    if invitation is None:
        raise InvalidInput(f"organisation {organisation_id} is not invited to this meeting", field=field)
    return invitation


def _in_session(meeting: Meeting) -> None:
    if meeting.status in ("closed", "locked"):
        raise Conflict(f"the meeting is {meeting.status}; corrections are amendments", field="status")


def record_attendance(
    session: Session, meeting_id: str, organisation_id: str, *, present: bool, representative: str
) -> Invitation:
    meeting, _ = get_meeting(session, meeting_id)
    _in_session(meeting)
    invitation = _invitation(session, meeting_id, organisation_id, "organisation_id")
    invitation.present = present
    invitation.representative = representative
    session.flush()
    return invitation


def quorum(session: Session, meeting_id: str) -> dict[str, Any]:
    """Which of the series' quorum kinds are present, and whether the quorum is met."""
    _, series = get_meeting(session, meeting_id)
    present = [
        i.organisation_id
        for i in session.scalars(
            select(Invitation).where(Invitation.meeting_id == meeting_id, Invitation.present.is_(True))
        )
    ]
    kinds = {
        o.kind
        for o in session.scalars(select(RegisteredOrganisation).where(RegisteredOrganisation.id.in_(present)))
    }
    missing = [k for k in series.quorum_kinds if k not in kinds]
    return {
        "met": not missing,
        "required_kinds": list(series.quorum_kinds),
        "present_kinds": sorted(kinds),
        "missing_kinds": missing,
        "present": sorted(present),
    }


def action_data(action: ActionItem) -> ActionData:
    return ActionData(
        action_id=action.id,
        meeting_id=action.meeting_id,
        decision_id=action.decision_id,
        owner_organisation_id=action.owner_organisation_id,
        title=action.title,
        due_date=action.due_date,
        status=action.status,
        links=list(action.links),
        progress=list(action.progress),
        version=action.version,
    )


def publish_action(session: Session, action: ActionItem, verb: str, region: str) -> None:
    """Publish the action's new state as its next version."""
    action.version += 1
    session.flush()
    publish(session, f"sifang.action.{verb}.v1", action_data(action), region, correlated=False)


def record_decision(
    session: Session,
    meeting_id: str,
    *,
    item_key: str,
    outcome: str,
    positions: list[dict[str, str]],
    minutes: str,
    actions: list[dict[str, Any]],
    recorded_by: str,
    now: datetime,
) -> Decision:
    meeting, series = get_meeting(session, meeting_id)
    _in_session(meeting)
    agenda = latest_agenda(session, meeting_id)
    items = {i["key"]: i for i in (agenda.items if agenda and agenda.published else [])}
    if item_key not in items:
        raise InvalidInput("decisions are taken on items of the published agenda", field="item_key")
    for k, position in enumerate(positions):
        _invitation(session, meeting_id, position["organisation_id"], f"positions.{k}.organisation_id")
    if outcome in ("approved", "rejected") and not (q := quorum(session, meeting_id))["met"]:
        raise Conflict(
            f"no quorum: missing {', '.join(q['missing_kinds'])}; defer or refer instead", field="outcome"
        )
    if session.scalar(
        select(Decision).where(Decision.meeting_id == meeting_id, Decision.item_key == item_key)
    ):
        raise Conflict("this item has a decision already", field="item_key")
    decision = Decision(
        id=new_id(session),
        meeting_id=meeting_id,
        item_key=item_key,
        title=str(items[item_key]["title"]),
        outcome=outcome,
        positions=positions,
        minutes=minutes,
        recorded_by=recorded_by,
        recorded_at=now,
    )
    session.add(decision)
    session.flush()
    for k, spec in enumerate(actions):
        if not session.get(RegisteredOrganisation, spec["owner_organisation_id"]):
            raise InvalidInput(
                "the owner is not a registered organisation", field=f"actions.{k}.owner_organisation_id"
            )
        action = ActionItem(
            id=new_id(session),
            meeting_id=meeting_id,
            decision_id=decision.id,
            owner_organisation_id=spec["owner_organisation_id"],
            title=spec["title"],
            due_date=spec["due_date"],
            status="open",
            links=list(spec.get("links") or []),
            progress=[],
            updated_at=now,
            version=0,
        )
        session.add(action)
        session.flush()
        publish_action(session, action, "assigned", series.region)
    source, _, ident = item_key.partition(":")
    if source in ("proposal", "dispute") and (proposal := session.get(AgendaProposal, ident)):
        proposal.status = "decided"
    return decision


def _canonical(content: dict[str, Any]) -> str:
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def hash_record(previous_hash: str, content: dict[str, Any]) -> str:
    return hashlib.sha256((previous_hash + _canonical(content)).encode()).hexdigest()


def _append_record(
    session: Session,
    series: MeetingSeries,
    meeting: Meeting,
    kind: str,
    content: dict[str, Any],
    parties: list[str],
    now: datetime,
) -> MeetingRecord:
    last = session.scalar(
        select(MeetingRecord)
        .where(MeetingRecord.series_id == series.id)
        .order_by(MeetingRecord.sequence.desc())
        .limit(1)
    )
    previous = last.record_hash if last else GENESIS
    record = MeetingRecord(
        id=new_id(session),
        series_id=series.id,
        meeting_id=meeting.id,
        sequence=(last.sequence + 1) if last else 1,
        kind=kind,
        content=content,
        previous_hash=previous,
        record_hash=hash_record(previous, content),
        parties=parties,
        approved_by=[],
        locked_at=None,
        created_at=now,
    )
    session.add(record)
    session.flush()
    return record


def record_data(record: MeetingRecord) -> RecordData:
    return RecordData(
        record_id=record.id,
        meeting_id=record.meeting_id,
        sequence=record.sequence,
        record_kind=record.kind,
        record_hash=record.record_hash,
        previous_hash=record.previous_hash,
        parties=list(record.parties),
        approved_by=list(record.approved_by),
        locked=record.locked_at is not None,
        content=record.content,
    )


def meeting_content(
    session: Session, meeting: Meeting, series: MeetingSeries, minutes: str
) -> dict[str, Any]:
    """Everything the minutes fix: attendance, decisions with positions, actions, free text."""
    invitations = session.scalars(
        select(Invitation).where(Invitation.meeting_id == meeting.id).order_by(Invitation.organisation_id)
    )
    decisions = session.scalars(
        select(Decision).where(Decision.meeting_id == meeting.id).order_by(Decision.recorded_at, Decision.id)
    )
    actions = session.scalars(
        select(ActionItem).where(ActionItem.meeting_id == meeting.id).order_by(ActionItem.id)
    )
    agenda = latest_agenda(session, meeting.id)
    return {
        "meeting": {
            "id": meeting.id,
            "title": meeting.title,
            "series": series.name,
            "kind": series.kind,
            "region": series.region,
            "starts_at": meeting.starts_at.isoformat(),
            "location": meeting.location,
        },
        "agenda_version": agenda.version if agenda else None,
        "attendance": [
            {
                "organisation_id": i.organisation_id,
                "reply": i.reply,
                "present": bool(i.present),
                "representative": i.representative or i.delegate,
            }
            for i in invitations
        ],
        "quorum": quorum(session, meeting.id),
        "decisions": [
            {
                "id": d.id,
                "item_key": d.item_key,
                "title": d.title,
                "outcome": d.outcome,
                "positions": d.positions,
                "minutes": d.minutes,
            }
            for d in decisions
        ],
        "actions": [
            {
                "id": a.id,
                "decision_id": a.decision_id,
                "owner_organisation_id": a.owner_organisation_id,
                "title": a.title,
                "due_date": a.due_date.isoformat(),
                "links": a.links,
            }
            for a in actions
        ],
        "minutes": minutes,
    }


def close_meeting(session: Session, meeting_id: str, *, minutes: str, now: datetime) -> MeetingRecord:
    meeting, series = get_meeting(session, meeting_id)
    _in_session(meeting)
    present = quorum(session, meeting_id)["present"]
    if not present:
        raise Conflict("record who attended before closing the meeting", field="attendance")
    record = _append_record(
        session, series, meeting, "minutes", meeting_content(session, meeting, series, minutes), present, now
    )
    meeting.status = "closed"
    publish(session, "sifang.record.closed.v1", record_data(record), series.region, correlated=False)
    return record


def approve_minutes(
    session: Session, meeting_id: str, organisation_id: str, record_hash: str, now: datetime
) -> MeetingRecord | None:
    """A party's approval; the record locks when every party approved. None if it no longer applies."""
    record = session.scalar(
        select(MeetingRecord).where(MeetingRecord.meeting_id == meeting_id, MeetingRecord.kind == "minutes")
    )
    if record is None or record.record_hash != record_hash or organisation_id not in record.parties:
        return None
    if organisation_id in record.approved_by or record.locked_at is not None:
        return record
    record.approved_by = sorted({*record.approved_by, organisation_id})
    if set(record.approved_by) == set(record.parties):
        record.locked_at = now
        meeting, series = get_meeting(session, meeting_id)
        meeting.status = "locked"
        session.flush()
        publish(session, "sifang.record.locked.v1", record_data(record), series.region, correlated=False)
    return record


def add_amendment(
    session: Session, meeting_id: str, *, text: str, reason: str, by: str, now: datetime
) -> MeetingRecord:
    meeting, series = get_meeting(session, meeting_id)
    if meeting.status not in ("closed", "locked"):
        raise Conflict("amendments correct a closed record; the meeting is still open", field="status")
    minutes = session.scalar(
        select(MeetingRecord).where(MeetingRecord.meeting_id == meeting_id, MeetingRecord.kind == "minutes")
    )
    assert minutes is not None
    content = {
        "amends": minutes.id,
        "amends_hash": minutes.record_hash,
        "text": text,
        "reason": reason,
        "by": by,
        "at": now.isoformat(),
    }
    record = _append_record(session, series, meeting, "amendment", content, list(minutes.parties), now)
    publish(session, "sifang.record.amended.v1", record_data(record), series.region, correlated=False)
    return record


def verify_chain(session: Session, series_id: str) -> dict[str, Any]:
    """Recompute the series' hash chain: any edit to a stored record breaks it."""
    previous = GENESIS
    records = list(
        session.scalars(
            select(MeetingRecord).where(MeetingRecord.series_id == series_id).order_by(MeetingRecord.sequence)
        )
    )
    for record in records:
        if record.previous_hash != previous or hash_record(previous, record.content) != record.record_hash:
            return {"valid": False, "records": len(records), "broken_at": record.sequence}
        previous = record.record_hash
    return {"valid": True, "records": len(records), "broken_at": None, "head": previous}


# -- follow-up --------------------------------------------------------------------------------


def mark_overdue(session: Session, today: date) -> list[ActionItem]:
    """Unfinished actions past their due date become overdue and are published as such
    (while the clock's tick is applied)."""
    due = list(
        session.scalars(
            select(ActionItem)
            .where(ActionItem.status.in_(("open", "in_progress", "blocked")), ActionItem.due_date < today)
            .order_by(ActionItem.id)
        )
    )
    regions: dict[str, str] = {}
    for action in due:
        action.status = "overdue"
        if action.meeting_id not in regions:
            regions[action.meeting_id] = get_meeting(session, action.meeting_id)[1].region
        session.flush()
        publish_action(session, action, "overdue", regions[action.meeting_id])
    return due


def report_progress(
    session: Session,
    action_id: str,
    organisation_id: str,
    *,
    status: str,
    note: str,
    evidence_url: str,
    at: datetime,
) -> ActionItem | None:
    action = session.get(ActionItem, action_id)
    if action is None or action.owner_organisation_id != organisation_id:
        return None
    action.progress = [
        *action.progress,
        {"status": status, "note": note, "evidence_url": evidence_url, "at": at.isoformat()},
    ]
    overdue = action.status == "overdue" and status != "done"
    action.status = "overdue" if overdue else status
    action.updated_at = at
    session.flush()
    publish_action(session, action, "updated", get_meeting(session, action.meeting_id)[1].region)
    return action


def series_history(session: Session, series_id: str) -> list[dict[str, Any]]:
    """What each meeting of the series decided and what became of its actions."""
    meetings = session.scalars(
        select(Meeting).where(Meeting.series_id == series_id).order_by(Meeting.starts_at)
    )
    actions_by_decision: dict[str, list[dict[str, Any]]] = defaultdict(list)
    history = []
    for meeting in meetings:
        for action in session.scalars(select(ActionItem).where(ActionItem.meeting_id == meeting.id)):
            actions_by_decision[action.decision_id].append(action_data(action).model_dump(mode="json"))
        decisions = session.scalars(
            select(Decision).where(Decision.meeting_id == meeting.id).order_by(Decision.recorded_at)
        )
        history.append(
            {
                "meeting_id": meeting.id,
                "title": meeting.title,
                "starts_at": meeting.starts_at.isoformat(),
                "status": meeting.status,
                "decisions": [
                    {
                        "id": d.id,
                        "title": d.title,
                        "outcome": d.outcome,
                        "actions": actions_by_decision.get(d.id, []),
                    }
                    for d in decisions
                ],
            }
        )
    return history


# -- what the parties send ----------------------------------------------------------------------


def raise_agenda_item(
    session: Session, data: AgendaItemProposed | DisputeRaised, *, fallback_region: str, at: datetime
) -> AgendaProposal:
    """An item proposed for a series' agenda, or a dispute for the next meeting in its region."""
    org = session.get(RegisteredOrganisation, data.organisation_id)
    if isinstance(data, DisputeRaised):
        ident, source, series_id, region = data.dispute_id, "dispute", None, data.region
        details: dict[str, object] = {"other_parties": data.other_parties}
    else:
        ident, source, series_id = data.proposal_id, "proposal", data.series_id
        region, details = (org.region if org else fallback_region), {"links": data.links}
    proposal = AgendaProposal(
        id=ident,
        source=source,
        organisation_id=data.organisation_id,
        series_id=series_id,
        region=region,
        title=data.title,
        description=data.description,
        details=details,
        status="pending",
        raised_at=at,
    )
    session.add(proposal)
    return proposal


def answer_invitation(
    session: Session, meeting_id: str, organisation_id: str, reply: str, delegate: str
) -> None:
    invitation = session.get(Invitation, (meeting_id, organisation_id))
    if invitation is None:
        raise Forbidden(
            f"organisation {organisation_id} is not invited to {meeting_id}", field="organisation_id"
        )
    invitation.reply, invitation.delegate = reply, delegate
