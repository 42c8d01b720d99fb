"""Reading the funds: the funds of a region, one fund's allocations, and its utilisation by
share, township and quarter."""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.coordinator.book.queries import in_region
from services.coordinator.funds.models import LedgerAllocation, LedgerFund, LedgerMovement
from shared.errors import NotFound

__all__ = ["MOVEMENTS", "UtilisationCell", "allocations", "fund", "funds", "utilisation"]

CENTS = Decimal("0.00")
MOVEMENTS = ("received", "allocated", "released", "disbursed", "repaid")


@dataclass(frozen=True)
class UtilisationCell:
    """What moved in one share of a fund, in one township, in one quarter (yuan)."""

    share: str
    township: str
    quarter: str
    totals: dict[str, Decimal]


def funds(session: Session, region: str | None, fiscal_year: int | None) -> Sequence[LedgerFund]:
    query = select(LedgerFund)
    if region:
        query = query.where(in_region(LedgerFund.region, region))
    if fiscal_year:
        query = query.where(LedgerFund.fiscal_year == fiscal_year)
    return session.scalars(
        query.order_by(LedgerFund.fiscal_year.desc(), LedgerFund.opened_at, LedgerFund.id)
    ).all()


def fund(session: Session, fund_id: str) -> LedgerFund:
    found = session.get(LedgerFund, fund_id)
    if found is None:
        raise NotFound(f"no fund {fund_id!r}", field="fund_id")
    return found


def allocations(session: Session, fund_id: str) -> Sequence[LedgerAllocation]:
    return session.scalars(
        select(LedgerAllocation)
        .where(LedgerAllocation.fund_id == fund_id)
        .order_by(LedgerAllocation.allocated_on, LedgerAllocation.id)
    ).all()


def utilisation(session: Session, fund_id: str) -> list[UtilisationCell]:
    """The fund's movements summed per share, township and quarter, in that order."""
    rows = session.execute(
        select(
            LedgerMovement.share,
            LedgerMovement.township,
            LedgerMovement.quarter,
            LedgerMovement.movement,
            func.sum(LedgerMovement.amount),
        )
        .where(LedgerMovement.fund_id == fund_id)
        .group_by(
            LedgerMovement.share, LedgerMovement.township, LedgerMovement.quarter, LedgerMovement.movement
        )
    ).all()
    cells: dict[tuple[str, str, str], dict[str, Decimal]] = {}
    for share, township, quarter, movement, total in rows:
        totals = cells.setdefault((share, township, quarter), dict.fromkeys(MOVEMENTS, CENTS))
        totals[movement] = Decimal(total).quantize(CENTS)
    return [UtilisationCell(*key, totals) for key, totals in sorted(cells.items())]
