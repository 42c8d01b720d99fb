"""The meeting itself: invitations and their answers, attendance and the quorum (the rule is in
``quorum.py``), decisions with the parties' positions and the actions they assign, and closing
the meeting with its minutes appended to the series' record."""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.coordinator.journal.service import new_id, publish
from services.coordinator.meetings.agendas import latest_agenda
from services.coordinator.meetings.follow_up import publish_action
from services.coordinator.meetings.models import (
    ActionItem,
    AgendaProposal,
    Decision,
    Invitation,
    Meeting,
    MeetingRecord,
    MeetingSeries,
)
from services.coordinator.meetings.quorum import check_quorum
from services.coordinator.meetings.record import append_record, record_data
from services.coordinator.meetings.series import get_meeting
from services.coordinator.registry.models import RegisteredOrganisation
from shared.errors import Conflict, Forbidden, InvalidInput

__all__ = [
    "OUTCOMES",
    "POSITIONS",
    "answer_invitation",
    "close_meeting",
    "meeting_content",
    "quorum",
    "record_attendance",
    "record_decision",
]

OUTCOMES = ("approved", "rejected", "deferred", "referred")
POSITIONS = ("agree", "object", "abstain")
BINDING = ("approved", "rejected")  # the outcomes that need the quorum


def answer_invitation(
    session: Session, meeting_id: str, organisation_id: str, reply: str, delegate: str
) -> None:
    invitation = session.get(Invitation, (meeting_id, organisation_id))
    if invitation is None:
        raise Forbidden(
            f"organisation {organisation_id} is not invited to {meeting_id}", field="organisation_id"
        )
    invitation.reply, invitation.delegate = reply, delegate


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
    kinds = session.scalars(select(RegisteredOrganisation.kind).where(RegisteredOrganisation.id.in_(present)))
    check = check_quorum(series.quorum_kinds, kinds)
    return {
        "met": check.met,
        "required_kinds": check.required_kinds,
        "present_kinds": check.present_kinds,
        "missing_kinds": check.missing_kinds,
        "present": sorted(present),
    }


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
    """A decision on an item of the published agenda; approving or rejecting needs the quorum.
    Its actions are assigned (and published), and a proposal or dispute it settles is decided."""
    meeting, series = get_meeting(session, meeting_id)
    _in_session(meeting)
    if outcome not in OUTCOMES:
        raise InvalidInput(f"the outcome is one of {', '.join(OUTCOMES)}", field="outcome")
    for k, position in enumerate(positions):
        if position.get("position") not in POSITIONS:
            raise InvalidInput(
                f"a position is one of {', '.join(POSITIONS)}", field=f"positions.{k}.position"
            )
    agenda = latest_agenda(session, meeting_id)
    items = {i["key"]: i for i in (agenda.items if agenda and agenda.published else [])}
    if item_key not in items:
        raise InvalidInput("decisions are taken on items of the published agenda", field="item_key")
    for k, position in enumerate(positions):
        _invitation(session, meeting_id, position["organisation_id"], f"positions.{k}.organisation_id")
    if outcome in BINDING and not (q := quorum(session, meeting_id))["met"]:
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
    """Close the meeting: its minutes go on the record, for the parties present to approve."""
    meeting, series = get_meeting(session, meeting_id)
    _in_session(meeting)
    present = quorum(session, meeting_id)["present"]
    if not present:
        raise Conflict("record who attended before closing the meeting", field="attendance")
    record = append_record(
        session, series, meeting, "minutes", meeting_content(session, meeting, series, minutes), present, now
    )
    meeting.status = "closed"
    publish(session, "sifang.record.closed.v1", record_data(record), series.region, correlated=False)
    return record
