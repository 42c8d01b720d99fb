"""The government service's own tables: programmes with eligibility rules, and the special-fund
ledger (funds, their shares, allocations and every entry in order)."""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.db import Base, utcnow
from shared.fund_tables import AllocationColumns, FundColumns, ShareColumns
from shared.stakeholder.models import STAKEHOLDER_TABLES, Offer, OwnedEntity

__all__ = ["TABLES", "Fund", "FundAllocation", "FundEntry", "FundShareAccount", "Programme"]


class Programme(OwnedEntity):
    """A subsidy, fund or training programme; its budget and window live on its offer."""

    __tablename__ = "programmes"

    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    programme_kind: Mapped[str] = mapped_column(String(20))
    eligibility: Mapped[dict[str, Any]]

    offer: Mapped[Offer] = relationship(lazy="joined")


class Fund(FundColumns):
    __tablename__ = "funds"

    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    shares: Mapped[list["FundShareAccount"]] = relationship(
        lazy="selectin", order_by="FundShareAccount.position"
    )


class FundShareAccount(ShareColumns):
    __tablename__ = "fund_shares"

    fund_id: Mapped[str] = mapped_column(ForeignKey("funds.id"), primary_key=True)


class FundAllocation(AllocationColumns):
    __tablename__ = "fund_allocations"

    fund_id: Mapped[str] = mapped_column(ForeignKey("funds.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FundEntry(Base):
    """One entry of a fund's ledger, in order: the event's data as published."""

    __tablename__ = "fund_entries"

    fund_id: Mapped[str] = mapped_column(ForeignKey("funds.id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    entry_kind: Mapped[str] = mapped_column(String(20))
    data: Mapped[dict[str, Any]]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


TABLES = (
    *STAKEHOLDER_TABLES,
    Programme.__table__,
    Fund.__table__,
    FundShareAccount.__table__,
    FundAllocation.__table__,
    FundEntry.__table__,
)
