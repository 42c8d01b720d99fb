"""Reading the market figures: filtered, newest month first."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.coordinator.book.queries import in_category, in_region
from services.coordinator.market.models import MarketCell

__all__ = ["MarketFilter", "market_cells"]


@dataclass(frozen=True)
class MarketFilter:
    """What a read narrows the figures by; ``None`` does not narrow."""

    region: str | None = None  # a county, or a city or province above it
    family: str | None = None  # a category family or a category above it (``produce``)
    month_from: str | None = None
    month_to: str | None = None
    state: str | None = None


def market_cells(session: Session, where: MarketFilter, limit: int, offset: int) -> Sequence[MarketCell]:
    query = select(MarketCell)
    if where.region:
        query = query.where(in_region(MarketCell.county, where.region[:6]))
    if where.family:
        query = query.where(in_category(MarketCell.family, where.family))
    if where.month_from:
        query = query.where(MarketCell.month >= where.month_from)
    if where.month_to:
        query = query.where(MarketCell.month <= where.month_to)
    if where.state:
        query = query.where(MarketCell.state == where.state)
    ordered = query.order_by(
        MarketCell.month.desc(), MarketCell.county, MarketCell.family, MarketCell.dimension
    )
    return session.scalars(ordered.limit(limit).offset(offset)).all()
