"""Where an agenda's items come from: the proposals and disputes the parties raise, and the rows
of the live state that the qualification rules of ``agenda.py`` read. The queries here only
narrow by scope (series, region) and state; the rules decide what qualifies."""

from datetime import date, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from services.coordinator.book.models import BookNeed, BookOffer
from services.coordinator.book.queries import in_region
from services.coordinator.matches.lifecycle import ACTIVE, REFUSED
from services.coordinator.matches.models import Match
from services.coordinator.meetings.agenda import (
    DEFAULT_UNMATCHED_DAYS,
    AgendaCandidate,
    AgendaScope,
    LiveAction,
    LiveMilestone,
    LiveNeed,
    LiveOffer,
    RaisedItem,
    Refusal,
    qualifying,
)
from services.coordinator.meetings.models import ActionItem, AgendaProposal, Meeting, MeetingSeries
from services.coordinator.projects.models import Project
from services.coordinator.registry.models import RegisteredOrganisation
from shared.events.data import AgendaItemProposed, DisputeRaised

__all__ = ["agenda_scope", "gather_candidates", "raise_agenda_item"]


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
        # a dispute goes to mediation first; the agenda takes it if nobody mediates it in time
        # or the mediation fails (``mediation/``)
        status="awaiting_mediator" if source == "dispute" else "pending",
        raised_at=at,
    )
    session.add(proposal)
    return proposal


def agenda_scope(
    session: Session,
    series: MeetingSeries,
    meeting: Meeting,
    as_of: datetime,
    unmatched_days: int = DEFAULT_UNMATCHED_DAYS,
) -> AgendaScope:
    """The scope of the meeting's agenda: news counts since the series' previous meeting."""
    previous = session.scalar(
        select(func.max(Meeting.starts_at)).where(
            Meeting.series_id == series.id, Meeting.starts_at < meeting.starts_at
        )
    )
    return AgendaScope(series.id, series.region, as_of, previous or series.created_at, unmatched_days)


def gather_candidates(
    session: Session,
    series: MeetingSeries,
    meeting: Meeting,
    as_of: datetime,
    unmatched_days: int = DEFAULT_UNMATCHED_DAYS,
) -> list[AgendaCandidate]:
    """Everything in the live state that should come before this meeting."""
    scope = agenda_scope(session, series, meeting, as_of, unmatched_days)
    return qualifying(
        scope,
        raised=_raised(session, scope),
        needs=_needs(session, scope),
        refusals=_refusals(session, scope),
        actions=_actions(session, scope),
        milestones=_milestones(session, scope),
        offers=_offers(session, scope),
    )


def _raised(session: Session, scope: AgendaScope) -> list[RaisedItem]:
    rows = session.scalars(
        select(AgendaProposal).where(
            AgendaProposal.status.in_(("pending", "awaiting_mediator")),
            or_(
                AgendaProposal.series_id == scope.series_id,
                AgendaProposal.series_id.is_(None) & in_region(AgendaProposal.region, scope.region),
            ),
        )
    )
    return [
        RaisedItem(p.id, p.source, p.organisation_id, p.series_id, p.region, p.title, p.status, p.raised_at)
        for p in rows
    ]


def _needs(session: Session, scope: AgendaScope) -> list[LiveNeed]:
    active = select(Match.need_id).where(Match.status.in_(ACTIVE))
    rows = session.execute(
        select(BookNeed, BookNeed.id.in_(active)).where(
            BookNeed.status == "open", in_region(BookNeed.region, scope.region)
        )
    )
    return [
        LiveNeed(n.id, n.title, n.organisation_id, n.region, n.status, n.published_at, bool(matched))
        for n, matched in rows
    ]


def _refusals(session: Session, scope: AgendaScope) -> list[Refusal]:
    rows = session.execute(
        select(
            Match.need_id,
            Match.region,
            Match.status,
            Match.updated_at,
            BookNeed.title,
            BookNeed.organisation_id,
        )
        .outerjoin(BookNeed, BookNeed.id == Match.need_id)
        .where(Match.status.in_(REFUSED), in_region(Match.region, scope.region))
    )
    return [Refusal(*row) for row in rows]


def _actions(session: Session, scope: AgendaScope) -> list[LiveAction]:
    rows = session.execute(
        select(ActionItem, Meeting.series_id)
        .join(Meeting, Meeting.id == ActionItem.meeting_id)
        .where(Meeting.series_id == scope.series_id, ActionItem.status == "overdue")
    )
    return [
        LiveAction(a.id, series_id, a.title, a.owner_organisation_id, a.status, a.due_date)
        for a, series_id in rows
    ]


def _milestones(session: Session, scope: AgendaScope) -> list[LiveMilestone]:
    rows = session.scalars(
        select(Project).where(
            Project.status == "active",
            or_(Project.series_id == scope.series_id, in_region(Project.region, scope.region)),
        )
    )
    return [
        LiveMilestone(
            p.id,
            str(m["milestone_id"]),
            p.title,
            str(m["title"]),
            p.lead_organisation_id,
            p.region,
            p.series_id,
            str(m["status"]),
            date.fromisoformat(str(m["due_date"])),
        )
        for p in rows
        for m in p.milestones
    ]


def _offers(session: Session, scope: AgendaScope) -> list[LiveOffer]:
    rows = session.scalars(
        select(BookOffer).where(
            BookOffer.kind == "government",
            BookOffer.status == "open",
            in_region(BookOffer.region, scope.region),
        )
    )
    return [
        LiveOffer(o.id, o.kind, o.title, o.organisation_id, o.region, o.status, o.published_at) for o in rows
    ]
