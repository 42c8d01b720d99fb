"""Figures for the overview page, computed from the coordinator's tables."""

import statistics
from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.coordinator.book.models import BookNeed, BookOffer
from services.coordinator.journal.models import EventLogEntry
from services.coordinator.matches.lifecycle import ACTIVE, MatchStatus
from services.coordinator.matches.models import Match
from services.coordinator.registry.models import RegisteredOrganisation

__all__ = ["overview"]


def overview(session: Session) -> dict[str, Any]:
    open_needs = list(session.scalars(select(BookNeed).where(BookNeed.status == "open")))
    open_offers = list(session.scalars(select(BookOffer).where(BookOffer.status == "open")))
    by_state: dict[str, int] = {
        MatchStatus(status).value: count
        for status, count in session.execute(select(Match.status, func.count()).group_by(Match.status))
    }
    first_match = dict(
        session.execute(select(Match.need_id, func.min(Match.proposed_at)).group_by(Match.need_id)).all()
    )
    active_needs = set(session.scalars(select(Match.need_id).where(Match.status.in_(ACTIVE))))
    matched_open = [n for n in open_needs if n.id in active_needs]
    waits = [
        (first_match[n.id] - n.published_at).total_seconds() / 3600 for n in open_needs if n.id in first_match
    ]
    settled = by_state.get("confirmed", 0) + by_state.get("fulfilled", 0)
    names = dict(session.execute(select(RegisteredOrganisation.id, RegisteredOrganisation.name)).all())
    villages = Counter(names.get(n.organisation_id, n.region) for n in open_needs if len(n.region) > 6)
    return {
        "open_needs": len(open_needs),
        "open_offers": len(open_offers),
        "match_rate": round(100 * len(matched_open) / len(open_needs)) if open_needs else 0,
        "median_hours": round(statistics.median(waits), 1) if waits else None,
        "fulfilment_rate": round(100 * by_state.get("fulfilled", 0) / settled) if settled else 0,
        "by_state": [(s, by_state.get(s, 0)) for s in (status.value for status in MatchStatus)],
        "needs_by_kind": Counter(n.kind for n in open_needs).most_common(),
        "offers_by_kind": Counter(o.kind for o in open_offers).most_common(),
        "by_category": Counter(n.category.split(".")[0] for n in open_needs).most_common(8),
        "by_village": villages.most_common(8),
        "latest": list(
            session.scalars(select(EventLogEntry).order_by(EventLogEntry.position.desc()).limit(15))
        ),
    }
