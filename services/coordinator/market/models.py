"""The market figures the coordinator keeps, one row per cell, and the cells waiting for the
next tick to be figured again."""

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base

__all__ = ["MarketCell", "StaleMarketCell"]


class MarketCell(Base):
    """One county's category family in one month and one dimension (``market/rules.py``)."""

    __tablename__ = "market_cells"

    county: Mapped[str] = mapped_column(String(6), primary_key=True)
    family: Mapped[str] = mapped_column(String(100), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(40), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    base_unit: Mapped[str] = mapped_column(String(20))
    needs: Mapped[int]
    offers: Mapped[int]
    demand: Mapped[float]
    supply: Mapped[float]
    matched: Mapped[float]
    matched_share: Mapped[float | None]
    median_days_to_match: Mapped[float | None]
    median_offer_price: Mapped[float | None]
    median_price_ceiling: Mapped[float | None]
    balance: Mapped[float | None]
    baseline: Mapped[float]
    state: Mapped[str] = mapped_column(String(10), index=True)
    reason: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class StaleMarketCell(Base):
    """A county's category family whose listings of ``month`` changed since its figures were
    last made: figured again (every dimension) when the next clock tick is applied."""

    __tablename__ = "stale_market_cells"

    county: Mapped[str] = mapped_column(String(6), primary_key=True)
    family: Mapped[str] = mapped_column(String(100), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    since: Mapped[datetime]
