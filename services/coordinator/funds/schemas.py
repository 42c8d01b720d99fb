"""The open-data shapes of the funds: each fund with its shares' figures, its allocations, and
its utilisation rows (JSON and CSV alike). Amounts are yuan, as exact decimal strings."""

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from services.coordinator.funds.models import LedgerAllocation, LedgerFund, LedgerShare
from services.coordinator.funds.queries import UtilisationCell

__all__ = ["AllocationRead", "FundDetail", "FundRead", "ShareFigures", "UtilisationRow"]

CENT = Decimal("0.01")


def _ratio(part: Decimal, whole: Decimal) -> float | None:
    return None if whole <= 0 else round(float(part / whole), 4)


class ShareFigures(BaseModel):
    share: str
    name: str
    purpose: str = Field(description="ecommerce_infrastructure, social_work or other")
    planned: Decimal = Field(description="earmarked")
    received: Decimal = Field(description="brought in by tranches")
    committed: Decimal = Field(description="held by allocations: allocated − released − repaid")
    paid: Decimal = Field(description="paid out and not repaid: disbursed − repaid")
    uncommitted: Decimal = Field(description="planned − committed: what may still be allocated")
    commitment_rate: float | None = Field(description="committed ÷ planned")
    utilisation_rate: float | None = Field(description="paid ÷ received (null before any tranche)")

    @classmethod
    def of(cls, share: LedgerShare) -> "ShareFigures":
        b = share.balance()
        return cls(
            share=share.share,
            name=share.name,
            purpose=share.purpose,
            planned=b.planned.quantize(CENT),
            received=b.received.quantize(CENT),
            committed=b.committed.quantize(CENT),
            paid=b.paid.quantize(CENT),
            uncommitted=b.uncommitted.quantize(CENT),
            commitment_rate=_ratio(b.committed, b.planned),
            utilisation_rate=_ratio(b.paid, b.received),
        )


class FundRead(BaseModel):
    id: str
    organisation_id: str = Field(description="the government organisation that owns the ledger")
    name: str
    fiscal_year: int
    region: str
    description: str
    entries: int = Field(description="entries in the ledger so far")
    opened_at: datetime
    shares: list[ShareFigures]

    @classmethod
    def of(cls, fund: LedgerFund) -> "FundRead":
        return cls(
            id=fund.id,
            organisation_id=fund.organisation_id,
            name=fund.name,
            fiscal_year=fund.fiscal_year,
            region=fund.region,
            description=fund.description,
            entries=fund.version,
            opened_at=fund.opened_at,
            shares=[ShareFigures.of(share) for share in fund.shares],
        )


class AllocationRead(BaseModel):
    id: str
    share: str
    amount: Decimal
    released: Decimal
    disbursed: Decimal
    repaid: Decimal
    allocated_on: date
    township: str
    purpose: str
    recipient_organisation_id: str | None
    recipient_name: str
    match_id: str | None
    project: str

    @classmethod
    def of(cls, allocation: LedgerAllocation) -> "AllocationRead":
        return cls.model_validate(allocation, from_attributes=True)


class FundDetail(FundRead):
    allocations: list[AllocationRead]


class UtilisationRow(BaseModel):
    """What moved in one share of one fund, in one township, in one quarter."""

    fund_id: str
    share: str
    purpose: str
    township: str = Field(description="the allocation's township (the fund's region for tranches)")
    quarter: str = Field(description="YYYY-Qn of the entries' dates")
    received: Decimal
    allocated: Decimal
    released: Decimal
    disbursed: Decimal
    repaid: Decimal
    paid: Decimal = Field(description="disbursed − repaid")

    @classmethod
    def of(cls, fund: LedgerFund, cell: UtilisationCell) -> "UtilisationRow":
        purposes = {share.share: share.purpose for share in fund.shares}
        totals = cell.totals
        return cls(
            fund_id=fund.id,
            share=cell.share,
            purpose=purposes.get(cell.share, "other"),
            township=cell.township,
            quarter=cell.quarter,
            **totals,
            paid=totals["disbursed"] - totals["repaid"],
        )
