"""Reading disputes in mediation and the county's chain of mediation records."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.coordinator.book.queries import in_region
from services.coordinator.mediation.models import Dispute, MediationRecord
from services.coordinator.meetings.chain import ChainLink, ChainVerdict, verify_links

__all__ = ["disputes", "records", "verify_county"]


def disputes(
    session: Session,
    *,
    status: str | None = None,
    organisation_id: str | None = None,
    region: str | None = None,
) -> Sequence[Dispute]:
    """Disputes, those still open first, then newest first."""
    query = select(Dispute)
    if status:
        query = query.where(Dispute.status == status)
    if region:
        query = query.where(in_region(Dispute.region, region))
    rows = session.scalars(query.order_by(Dispute.raised_at.desc(), Dispute.id)).all()
    if organisation_id:
        rows = [d for d in rows if organisation_id in d.parties or d.mediator == organisation_id]
    return sorted(rows, key=lambda d: d.status in ("settled", "escalated", "decided"))


def records(session: Session, county: str) -> Sequence[MediationRecord]:
    return session.scalars(
        select(MediationRecord).where(MediationRecord.county == county).order_by(MediationRecord.sequence)
    ).all()


def verify_county(session: Session, county: str) -> ChainVerdict:
    """Recompute the county's chain of mediation records."""
    return verify_links(
        ChainLink(r.sequence, r.previous_hash, r.content, r.record_hash) for r in records(session, county)
    )
