"""The columns a fund's shares and allocations have wherever they are kept: in the government
service that owns the ledger and in the coordinator that follows it (each under its own table
names, in its own database)."""

from datetime import date
from decimal import Decimal

from sqlalchemy import ColumnElement, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base
from shared.fund_ledger import ZERO, AllocationBalance, ShareBalance

__all__ = ["YUAN", "AllocationColumns", "FundColumns", "ShareColumns"]

YUAN = Numeric(16, 2)


class FundColumns(Base):
    """A special fund (专项资金); ``version`` is the number of its ledger's last entry."""

    __abstract__ = True

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(String(36), index=True)
    name: Mapped[str] = mapped_column(String(200))
    fiscal_year: Mapped[int]
    region: Mapped[str] = mapped_column(String(12))
    description: Mapped[str] = mapped_column(Text)
    version: Mapped[int]


class ShareColumns(Base):
    """One earmarked share of a fund and its running totals (yuan)."""

    __abstract__ = True

    share: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(30))
    planned: Mapped[Decimal] = mapped_column(YUAN)
    received: Mapped[Decimal] = mapped_column(YUAN, default=ZERO)
    allocated: Mapped[Decimal] = mapped_column(YUAN, default=ZERO)
    released: Mapped[Decimal] = mapped_column(YUAN, default=ZERO)
    disbursed: Mapped[Decimal] = mapped_column(YUAN, default=ZERO)
    repaid: Mapped[Decimal] = mapped_column(YUAN, default=ZERO)

    def balance(self) -> ShareBalance:
        return ShareBalance(
            self.planned, self.received, self.allocated, self.released, self.disbursed, self.repaid
        )

    def set_balance(self, balance: ShareBalance) -> None:
        self.received, self.allocated, self.released = balance.received, balance.allocated, balance.released
        self.disbursed, self.repaid = balance.disbursed, balance.repaid


class AllocationColumns(Base):
    """Part of a share committed to a project or a confirmed match, and what it paid out."""

    __abstract__ = True

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    share: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal] = mapped_column(YUAN)
    released: Mapped[Decimal] = mapped_column(YUAN, default=ZERO)
    disbursed: Mapped[Decimal] = mapped_column(YUAN, default=ZERO)
    repaid: Mapped[Decimal] = mapped_column(YUAN, default=ZERO)
    allocated_on: Mapped[date]
    township: Mapped[str] = mapped_column(String(12))
    purpose: Mapped[str] = mapped_column(Text)
    recipient_organisation_id: Mapped[str | None] = mapped_column(String(36))
    recipient_name: Mapped[str] = mapped_column(String(200))
    match_id: Mapped[str | None] = mapped_column(String(36), index=True)
    project: Mapped[str] = mapped_column(String(200))
    project_id: Mapped[str | None] = mapped_column(String(36), index=True, default=None)
    budget_line: Mapped[str | None] = mapped_column(String(40), default=None)

    @classmethod
    def held(cls) -> ColumnElement[Decimal]:
        """What an allocation holds of its share (amount − released − repaid), as SQL."""
        return cls.amount - cls.released - cls.repaid

    def balance(self) -> AllocationBalance:
        return AllocationBalance(self.amount, self.released, self.disbursed, self.repaid)

    def set_balance(self, balance: AllocationBalance) -> None:
        self.released, self.disbursed, self.repaid = balance.released, balance.disbursed, balance.repaid
