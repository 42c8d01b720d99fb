"""Reads of the matches: proposals, confirmations and fulfilments."""

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.coordinator.book.queries import in_category, in_region
from services.coordinator.matches.models import Match
from services.coordinator.matches.schemas import MatchRead
from services.coordinator.matches.service import match_data

__all__ = ["match", "match_read", "matches"]


def matches(
    session: Session,
    *,
    status: str | None = None,
    organisation_id: str | None = None,
    need_id: str | None = None,
    offer_id: str | None = None,
    category: str | None = None,
    region: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[MatchRead]:
    """The matches narrowed by each filter given (``organisation_id``: on either side),
    most recently changed first."""
    query = select(Match)
    if status:
        query = query.where(Match.status == status)
    if organisation_id:
        query = query.where(
            or_(Match.need_organisation_id == organisation_id, Match.offer_organisation_id == organisation_id)
        )
    if need_id:
        query = query.where(Match.need_id == need_id)
    if offer_id:
        query = query.where(Match.offer_id == offer_id)
    if category:
        query = query.where(in_category(Match.category, category))
    if region:
        query = query.where(in_region(Match.region, region))
    query = query.order_by(Match.updated_at.desc(), Match.id).limit(limit).offset(offset)
    return [match_read(m) for m in session.scalars(query)]


def match(session: Session, match_id: str) -> MatchRead | None:
    """One match, or ``None`` if there is none with this id."""
    row = session.get(Match, match_id)
    return None if row is None else match_read(row)


def match_read(row: Match) -> MatchRead:
    """The read model of a match: its event data with its partition and last change."""
    return MatchRead(**match_data(row).model_dump(), partition=row.partition, updated_at=row.updated_at)
