"""The funds the coordinator follows: the same ledger the owning government service keeps,
rebuilt from its events, plus each entry's movement for the utilisation report."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.db import Base
from shared.fund_tables import YUAN, AllocationColumns, FundColumns, ShareColumns

__all__ = ["LedgerAllocation", "LedgerFund", "LedgerMovement", "LedgerShare"]


class LedgerFund(FundColumns):
    __tablename__ = "ledger_funds"

    opened_at: Mapped[datetime] = mapped_column(doc="the time of its fund.opened event")

    shares: Mapped[list["LedgerShare"]] = relationship(lazy="selectin", order_by="LedgerShare.position")


class LedgerShare(ShareColumns):
    __tablename__ = "ledger_fund_shares"

    fund_id: Mapped[str] = mapped_column(ForeignKey("ledger_funds.id"), primary_key=True)


class LedgerAllocation(AllocationColumns):
    __tablename__ = "ledger_fund_allocations"

    fund_id: Mapped[str] = mapped_column(ForeignKey("ledger_funds.id"), index=True)


class LedgerMovement(Base):
    """What one ledger entry moved in one share: ``received``, ``allocated``, ``disbursed``,
    ``repaid`` or ``released``, on a date, where (the allocation's township; the fund's region
    for money received)."""

    __tablename__ = "ledger_fund_movements"

    fund_id: Mapped[str] = mapped_column(ForeignKey("ledger_funds.id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    share: Mapped[str] = mapped_column(String(40), primary_key=True)
    movement: Mapped[str] = mapped_column(String(12))
    amount: Mapped[Decimal] = mapped_column(YUAN)
    on: Mapped[date]
    quarter: Mapped[str] = mapped_column(String(7), doc="YYYY-Qn of ``on``")
    township: Mapped[str] = mapped_column(String(12))
    allocation_id: Mapped[str | None] = mapped_column(String(36))
    entry_id: Mapped[str] = mapped_column(String(36), doc="the tranche, allocation, disbursement or return")
