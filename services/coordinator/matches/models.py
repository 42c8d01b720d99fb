"""Matches: proposed pairings of needs and offers and what became of them."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from services.coordinator.matches.lifecycle import MatchStatus, holds_capacity
from shared.db import Base

__all__ = ["DirtyPartition", "Match"]


class StatusColumn(TypeDecorator[MatchStatus]):
    """A match's status, stored as its name (``VARCHAR(20)``) and read back as a MatchStatus."""

    impl = String(20)
    cache_ok = True

    def process_bind_param(self, value: MatchStatus | str | None, dialect: Any) -> str | None:
        return None if value is None else MatchStatus(value).value

    def process_result_value(self, value: str | None, dialect: Any) -> MatchStatus | None:
        return None if value is None else MatchStatus(value)


class Match(Base):
    """A proposed pairing of (part of) a need with (part of) an offer, and what became of it."""

    __tablename__ = "matches"
    # a party's or a partition's matches in some states: the id first, then the state, so a
    # query by ids and states is answered by one index whatever the planner knows of the data
    __table_args__ = (
        Index("ix_matches_partition_status", "partition", "status"),
        Index("ix_matches_need_status", "need_id", "status"),
        Index("ix_matches_offer_status", "offer_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    partition: Mapped[str] = mapped_column(String(120))
    need_id: Mapped[str] = mapped_column(String(36))
    offer_id: Mapped[str] = mapped_column(String(36))
    need_organisation_id: Mapped[str] = mapped_column(String(36), index=True)
    offer_organisation_id: Mapped[str] = mapped_column(String(36), index=True)
    category: Mapped[str] = mapped_column(String(100))
    region: Mapped[str] = mapped_column(String(12))
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    unit: Mapped[str] = mapped_column(String(40))
    offer_quantity: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    offer_unit: Mapped[str] = mapped_column(String(40))
    base_quantity: Mapped[float]
    score: Mapped[float]
    status: Mapped[MatchStatus] = mapped_column(StatusColumn(), index=True)
    accepted_by: Mapped[list[str]]
    fulfilled_quantity: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    explanation: Mapped[dict[str, Any]]
    reason: Mapped[str] = mapped_column(Text)
    proposed_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    version: Mapped[int]  # how many states of it have been published (match.* events)

    @property
    def holds_capacity(self) -> bool:
        """Confirmed, fulfilled, or accepted by one side already: not re-solved away."""
        return holds_capacity(self.status, bool(self.accepted_by))


class DirtyPartition(Base):
    """A partition whose book changed since it was last solved, waiting for the next re-solve
    point (``COORDINATOR_RESOLVE_AT=tick``): solved oldest first when a tick comes back."""

    __tablename__ = "dirty_partitions"

    partition: Mapped[str] = mapped_column(String(120), primary_key=True)
    since: Mapped[datetime]  # the time of the first event that dirtied it
