"""What the dashboard's pages read: each page's rows in one call, so its view only renders."""

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.coordinator.book.models import BookListing, BookNeed, BookOffer
from services.coordinator.journal.models import EventLogEntry
from services.coordinator.matches.models import Match
from services.coordinator.matches.queries import diagnosis
from services.coordinator.matches.schemas import Diagnosis
from services.coordinator.meetings.agendas import latest_agenda
from services.coordinator.meetings.models import (
    AgendaVersion,
    Decision,
    Invitation,
    Meeting,
    MeetingRecord,
    MeetingSeries,
)
from services.coordinator.meetings.proceedings import quorum
from services.coordinator.meetings.record import verify_chain
from services.coordinator.meetings.series import get_meeting
from services.coordinator.registry.models import RegisteredOrganisation
from shared.db import utcnow
from shared.reasons import Language

__all__ = [
    "ListingPage",
    "MeetingPage",
    "MeetingsPage",
    "invitations",
    "listing_detail",
    "meeting_page",
    "meetings_page",
]

Side = Literal["need", "offer"]


def _model(side: Side) -> type[BookListing]:
    return BookNeed if side == "need" else BookOffer


@dataclass(frozen=True)
class ListingPage:
    row: BookListing
    matches: list[Match]
    events: list[EventLogEntry]
    diagnosis: Diagnosis | None  # why it is not fully matched; None when it is


def listing_detail(session: Session, side: Side, listing_id: str, lang: Language) -> ListingPage | None:
    """A need or offer with its matches, its history in the event log and, unless it is fully
    matched, its diagnosis in ``lang``."""
    row = session.get(_model(side), listing_id)
    if row is None:
        return None
    column = Match.need_id if side == "need" else Match.offer_id
    events = session.scalars(
        select(EventLogEntry).where(EventLogEntry.entity_id == listing_id).order_by(EventLogEntry.position)
    )
    found = diagnosis(session, side, listing_id, lang, utcnow().date())
    if found is not None and found.summary.code in ("fully_proposed", "offer_fully_allocated"):
        found = None
    return ListingPage(
        row, list(session.scalars(select(Match).where(column == listing_id))), list(events), found
    )


@dataclass(frozen=True)
class MeetingsPage:
    """The meetings page's series and the organisations a new one may invite (its meetings are
    a paged list, ``lists.meeting_query``)."""

    series: list[MeetingSeries]
    organisations: list[tuple[str, str, str]]  # id, name, kind: whom a new series may invite


def meetings_page(session: Session) -> MeetingsPage:
    series = list(session.scalars(select(MeetingSeries).order_by(MeetingSeries.created_at)))
    org = RegisteredOrganisation
    invitable = select(org.id, org.name, org.kind).order_by(org.kind, org.name)
    organisations = [(id_, name, kind) for id_, name, kind in session.execute(invitable)]
    return MeetingsPage(series, organisations)


def invitations(session: Session, meeting_id: str) -> list[Invitation]:
    query = select(Invitation).where(Invitation.meeting_id == meeting_id).order_by(Invitation.organisation_id)
    return list(session.scalars(query))


@dataclass(frozen=True)
class MeetingPage:
    meeting: Meeting
    series: MeetingSeries
    agenda: AgendaVersion | None
    invitations: list[Invitation]
    quorum: dict[str, Any]
    decisions: list[Decision]
    minutes: MeetingRecord | None
    chain: dict[str, Any]


def meeting_page(session: Session, meeting_id: str) -> MeetingPage:
    """A meeting with everything its page shows; 404 for an unknown meeting."""
    meeting, series = get_meeting(session, meeting_id)
    minutes = session.scalar(
        select(MeetingRecord).where(MeetingRecord.meeting_id == meeting_id, MeetingRecord.kind == "minutes")
    )
    decisions = session.scalars(
        select(Decision).where(Decision.meeting_id == meeting_id).order_by(Decision.recorded_at)
    )
    return MeetingPage(
        meeting=meeting,
        series=series,
        agenda=latest_agenda(session, meeting_id),
        invitations=invitations(session, meeting_id),
        quorum=quorum(session, meeting_id),
        decisions=list(decisions),
        minutes=minutes,
        chain=verify_chain(session, series.id),
    )
