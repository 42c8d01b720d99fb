"""Figures for the overview page, counted in SQL: the book may hold a hundred thousand items, so
no figure loads them. Only the median wait reads rows, one per open need that has a match."""

import statistics
from collections import Counter
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from services.coordinator.book.models import BookNeed, BookOffer
from services.coordinator.matches.lifecycle import ACTIVE, MatchStatus
from services.coordinator.matches.models import Match
from services.coordinator.registry.models import RegisteredOrganisation

__all__ = ["overview"]


def overview(session: Session) -> dict[str, Any]:
    is_open = BookNeed.status == "open"
    open_needs = session.scalar(select(func.count()).select_from(BookNeed).where(is_open)) or 0
    open_offers = (
        session.scalar(select(func.count()).select_from(BookOffer).where(BookOffer.status == "open")) or 0
    )
    by_state: dict[str, int] = {
        MatchStatus(status).value: count
        for status, count in session.execute(select(Match.status, func.count()).group_by(Match.status))
    }
    matched_open = (
        session.scalar(
            select(func.count(distinct(Match.need_id)))
            .join(BookNeed, BookNeed.id == Match.need_id)
            .where(is_open, Match.status.in_(ACTIVE))
        )
        or 0
    )
    first_match = (
        select(Match.need_id, func.min(Match.proposed_at).label("first")).group_by(Match.need_id).subquery()
    )
    waited = session.execute(
        select(BookNeed.published_at, first_match.c.first)
        .join(first_match, first_match.c.need_id == BookNeed.id)
        .where(is_open)
    )
    waits = [(first - published).total_seconds() / 3600 for published, first in waited]
    settled = by_state.get("confirmed", 0) + by_state.get("fulfilled", 0)
    kinds = session.execute(select(BookNeed.kind, func.count()).where(is_open).group_by(BookNeed.kind))
    offer_kinds = session.execute(
        select(BookOffer.kind, func.count()).where(BookOffer.status == "open").group_by(BookOffer.kind)
    )
    families: Counter[str] = Counter()
    for category, count in session.execute(
        select(BookNeed.category, func.count()).where(is_open).group_by(BookNeed.category)
    ):
        families[category.split(".")[0]] += count
    names = dict(session.execute(select(RegisteredOrganisation.id, RegisteredOrganisation.name)).all())
    villages: Counter[str] = Counter()
    for organisation_id, region, count in session.execute(
        select(BookNeed.organisation_id, BookNeed.region, func.count())
        .where(is_open, func.length(BookNeed.region) > 6)
        .group_by(BookNeed.organisation_id, BookNeed.region)
    ):
        villages[names.get(organisation_id, region)] += count
    return {
        "open_needs": open_needs,
        "open_offers": open_offers,
        "match_rate": round(100 * matched_open / open_needs) if open_needs else 0,
        "median_hours": round(statistics.median(waits), 1) if waits else None,
        "fulfilment_rate": round(100 * by_state.get("fulfilled", 0) / settled) if settled else 0,
        "by_state": [(s, by_state.get(s, 0)) for s in (status.value for status in MatchStatus)],
        "needs_by_kind": Counter({kind: count for kind, count in kinds}).most_common(),
        "offers_by_kind": Counter({kind: count for kind, count in offer_kinds}).most_common(),
        "by_category": families.most_common(8),
        "by_village": villages.most_common(8),
    }
