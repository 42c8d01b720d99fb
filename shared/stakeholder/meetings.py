"""Joint meetings as a stakeholder service sees them: invitations and replies, agendas,
agenda-item proposals, the minutes to approve, and the action items the organisation owns
with their progress reports. Answers go to the coordinator as events through the outbox."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.app import UowDep
from shared.db import UnitOfWork
from shared.errors import Conflict, NotFound
from shared.events.data import (
    ActionData,
    ActionProgressed,
    AgendaData,
    AgendaItemProposed,
    InvitationAnswered,
    MeetingData,
    MinutesApproved,
    RecordData,
)
from shared.events.envelope import new_event_id
from shared.events.validation import CheckedEvent
from shared.messaging.consumer import Delivery
from shared.reasons import LANGUAGES, agenda_reason, agenda_rule
from shared.stakeholder.models import CoordinatorNotice, Organisation
from shared.stakeholder.notices import own_notice
from shared.stakeholder.service import emit
from shared.stakeholder.views import CurrentOrg

__all__ = [
    "AgendaItemCreate",
    "Approval",
    "MeetingNotice",
    "Progress",
    "Reply",
    "actions_of",
    "apply_meeting_event",
    "approve_minutes",
    "meeting_of",
    "meetings_of",
    "meetings_router",
    "propose_agenda_item",
    "reply_to_invitation",
    "report_progress",
]


def _notice(
    session: Session, entity: str, entity_id: str, organisations: list[str]
) -> CoordinatorNotice | None:
    ours = set(session.scalars(select(Organisation.id).where(Organisation.id.in_(organisations))))
    notice = session.get(CoordinatorNotice, (entity, entity_id))
    if notice is None:
        if not ours:
            return None
        notice = CoordinatorNotice(entity=entity, entity_id=entity_id, organisations=[], state={})
        session.add(notice)
    notice.organisations = sorted({*notice.organisations, *organisations})
    return notice


def _series_region(session: Session, series_id: str) -> str | None:
    """The county of a series' meetings, as their notices tell: a proposal for it goes there."""
    notices = session.scalars(select(CoordinatorNotice).where(CoordinatorNotice.entity == "meeting"))
    for notice in notices:
        if notice.region and notice.state.get("meeting", {}).get("series_id") == series_id:
            return notice.region
    return None


def apply_meeting_event(session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
    """Keep the coordinator's meeting and action events that concern our organisations."""
    data, when = checked.data, checked.envelope.time
    notice: CoordinatorNotice | None
    match data:
        case MeetingData():
            notice = _notice(session, "meeting", data.meeting_id, data.invited)
            part = {"meeting": data.model_dump(mode="json")}
        case AgendaData():
            notice = _notice(session, "meeting", data.meeting_id, data.invited)
            part = {"agenda": data.model_dump(mode="json")}
        case RecordData():
            notice = _notice(session, "meeting", data.meeting_id, data.parties)
            key = "record" if data.record_kind == "minutes" else f"amendment_{data.sequence}"
            part = {key: data.model_dump(mode="json")}
        case ActionData():
            notice = _notice(session, "action", data.action_id, [data.owner_organisation_id])
            known = notice.state.get("version") if notice is not None else None
            if data.version is not None and isinstance(known, int) and data.version <= known:
                return  # a late copy of an earlier state
            part = data.model_dump(mode="json")
        case _:
            return
    if notice is not None:
        notice.state = notice.state | part
        notice.updated_at = when
        notice.region = checked.envelope.region


class Reply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reply: Literal["attend", "decline", "delegate"]
    delegate: Annotated[str, Field(max_length=200)] = ""


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_hash: Annotated[
        str, Field(min_length=64, max_length=64, description="the hash of the minutes approved")
    ]


class AgendaItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=5000)] = ""
    series_id: str | None = Field(default=None, description="a series; none means the region's meetings")
    links: list[str] = Field(default_factory=list)


class Progress(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["in_progress", "done", "blocked"]
    note: Annotated[str, Field(max_length=2000)] = ""
    evidence_url: Annotated[str, Field(max_length=500)] = ""


class MeetingNotice(BaseModel):
    """What this service knows of a meeting from the coordinator's events: the meeting, its
    published agenda, its minutes (and amendments as ``amendment_<sequence>``). Each agenda item
    also has ``reason_text`` and ``priority_rule_text``: its reason and rule in ``zh`` and ``en``."""

    model_config = ConfigDict(extra="allow")

    meeting_id: str
    meeting: MeetingData | None = None
    agenda: AgendaData | None = None
    record: RecordData | None = None


def _rendered(item: dict[str, Any]) -> dict[str, Any]:
    """An agenda item as published, with its reason and priority rule in Chinese and English
    (items carry codes; items published before the codes, English sentences)."""
    return item | {
        "reason_text": {lang: agenda_reason(item, lang) for lang in LANGUAGES},
        "priority_rule_text": {lang: agenda_rule(item, lang) for lang in LANGUAGES},
    }


def _meeting_notice(row: CoordinatorNotice) -> MeetingNotice:
    state = row.state | {"meeting_id": row.entity_id}
    agenda = state.get("agenda")
    if isinstance(agenda, dict):
        state["agenda"] = agenda | {"items": [_rendered(item) for item in agenda.get("items", [])]}
    return MeetingNotice.model_validate(state)


def meetings_of(session: Session, org: Organisation) -> list[MeetingNotice]:
    """Meetings ``org`` is invited to, the latest first."""
    rows = session.scalars(
        select(CoordinatorNotice)
        .where(CoordinatorNotice.entity == "meeting")
        .order_by(CoordinatorNotice.updated_at.desc())
    )
    return [_meeting_notice(row) for row in rows if org.id in row.organisations]


def meeting_of(session: Session, org: Organisation, meeting_id: str) -> MeetingNotice:
    return _meeting_notice(own_notice(session, org, "meeting", meeting_id))


def reply_to_invitation(
    uow: UnitOfWork, org: Organisation, meeting_id: str, command: Reply
) -> InvitationAnswered:
    notice = own_notice(uow.session, org, "meeting", meeting_id)
    if "meeting" not in notice.state or org.id not in notice.state["meeting"]["invited"]:
        raise NotFound("this organisation is not invited to that meeting", field="meeting_id")
    if command.reply == "delegate" and not command.delegate:
        raise Conflict("name the delegate", field="delegate")
    event = InvitationAnswered(
        meeting_id=meeting_id, organisation_id=org.id, reply=command.reply, delegate=command.delegate
    )
    emit(uow.session, org, "invitation", "answered", event, region=notice.region or org.region)
    uow.commit()
    return event


def approve_minutes(
    uow: UnitOfWork, org: Organisation, meeting_id: str, command: Approval
) -> MinutesApproved:
    notice = own_notice(uow.session, org, "meeting", meeting_id)
    record = notice.state.get("record")
    if record is None:
        raise Conflict("the meeting has no minutes to approve yet", field="meeting_id")
    if org.id not in record["parties"]:
        raise Conflict("only organisations present at the meeting approve its minutes", field="meeting_id")
    if record["record_hash"] != command.record_hash:
        raise Conflict("that is not the hash of these minutes", field="record_hash")
    event = MinutesApproved(meeting_id=meeting_id, organisation_id=org.id, record_hash=command.record_hash)
    emit(uow.session, org, "minutes", "approved", event, region=notice.region or org.region)
    uow.commit()
    return event


def propose_agenda_item(uow: UnitOfWork, org: Organisation, command: AgendaItemCreate) -> AgendaItemProposed:
    event = AgendaItemProposed(
        proposal_id=new_event_id(),
        organisation_id=org.id,
        series_id=command.series_id,
        title=command.title,
        description=command.description,
        links=command.links,
    )
    region = _series_region(uow.session, command.series_id) if command.series_id else None
    emit(uow.session, org, "agenda_item", "proposed", event, region=region or org.region)
    uow.commit()
    return event


def actions_of(session: Session, org: Organisation) -> list[ActionData]:
    """Action items ``org`` owns, the overdue first, then by due date."""
    rows = session.scalars(select(CoordinatorNotice).where(CoordinatorNotice.entity == "action"))
    actions = [ActionData.model_validate(r.state) for r in rows if org.id in r.organisations]
    return sorted(actions, key=lambda a: (a.status != "overdue", a.due_date))


def report_progress(
    uow: UnitOfWork, org: Organisation, action_id: str, command: Progress
) -> ActionProgressed:
    notice = own_notice(uow.session, org, "action", action_id)
    if notice.state.get("status") == "done":
        raise Conflict("this action is done", field="status")
    event = ActionProgressed(
        progress_id=new_event_id(),
        action_id=action_id,
        organisation_id=org.id,
        status=command.status,
        note=command.note,
        evidence_url=command.evidence_url,
    )
    emit(uow.session, org, "action", "progressed", event, region=notice.region or org.region)
    uow.commit()
    return event


def meetings_router() -> APIRouter:
    router = APIRouter(tags=["meetings"])

    @router.get(
        "/meetings",
        summary="Meetings this organisation is invited to, with agendas and minutes",
        response_model=list[MeetingNotice],
        response_model_exclude_unset=True,
    )
    def list_meetings(uow: UowDep, org: CurrentOrg) -> list[MeetingNotice]:
        return meetings_of(uow.session, org)

    @router.get("/meetings/{meeting_id}", response_model=MeetingNotice, response_model_exclude_unset=True)
    def get_meeting(meeting_id: str, uow: UowDep, org: CurrentOrg) -> MeetingNotice:
        return meeting_of(uow.session, org, meeting_id)

    @router.post(
        "/meetings/{meeting_id}/reply",
        status_code=status.HTTP_202_ACCEPTED,
        summary="Attend, decline, or send a delegate",
    )
    def reply(meeting_id: str, body: Reply, uow: UowDep, org: CurrentOrg) -> InvitationAnswered:
        return reply_to_invitation(uow, org, meeting_id, body)

    @router.post(
        "/meetings/{meeting_id}/minutes/approve",
        status_code=status.HTTP_202_ACCEPTED,
        summary="Approve the minutes, naming the hash of the record approved",
    )
    def approve(meeting_id: str, body: Approval, uow: UowDep, org: CurrentOrg) -> MinutesApproved:
        return approve_minutes(uow, org, meeting_id, body)

    @router.post(
        "/agenda-items",
        status_code=status.HTTP_201_CREATED,
        summary="Propose an item for a joint meeting's agenda",
    )
    def propose(body: AgendaItemCreate, uow: UowDep, org: CurrentOrg) -> AgendaItemProposed:
        return propose_agenda_item(uow, org, body)

    @router.get("/actions", summary="Action items this organisation owns")
    def list_actions(uow: UowDep, org: CurrentOrg) -> list[ActionData]:
        return actions_of(uow.session, org)

    @router.post(
        "/actions/{action_id}/progress",
        status_code=status.HTTP_202_ACCEPTED,
        summary="Report progress on an action item (status, note, evidence link)",
    )
    def progress(action_id: str, body: Progress, uow: UowDep, org: CurrentOrg) -> ActionProgressed:
        return report_progress(uow, org, action_id, body)

    return router
