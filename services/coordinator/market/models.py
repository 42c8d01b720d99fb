"""The market figures the coordinator keeps: one row per cell, kept current as listings change."""

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base

__all__ = ["MarketCell"]


class MarketCell(Base):
    """One county's category family in one month and one dimension (``market/rules.py``): its
    listings counted and summed, and its signal. What depends on matches and prices (matched
    share, time to match, median prices) is read from the book when asked for."""

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
    balance: Mapped[float | None]
    baseline: Mapped[float]
    state: Mapped[str] = mapped_column(String(10), index=True)
    reason: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
