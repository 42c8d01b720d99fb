"""The special funds as open data: ``GET /open-data/funds``, one fund with its allocations, and
its utilisation by share, township and quarter (JSON and CSV).

Special funds are public money and their use is published (资金公示): these reads need no
token. The figures are those of the owning bureau's ledger, rebuilt from its events."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from services.coordinator.book.views import Region
from services.coordinator.funds import queries
from services.coordinator.funds.schemas import AllocationRead, FundDetail, FundRead, UtilisationRow
from shared.app import UowDep
from shared.csv_export import CsvResponse, rows_csv

__all__ = ["router"]

router = APIRouter(tags=["funds"])

FiscalYear = Annotated[int | None, Query(ge=2000, le=2100)]


@router.get("/open-data/funds", response_model=list[FundRead])
def list_funds(uow: UowDep, region: Region = None, fiscal_year: FiscalYear = None) -> list[FundRead]:
    """The special funds of a region (and year), each share's figures with it."""
    return [FundRead.of(fund) for fund in queries.funds(uow.session, region, fiscal_year)]


@router.get("/open-data/funds/{fund_id}", response_model=FundDetail)
def get_fund(fund_id: str, uow: UowDep) -> FundDetail:
    """One fund: its shares' figures and every allocation with what it paid out."""
    fund = queries.fund(uow.session, fund_id)
    return FundDetail(
        **FundRead.of(fund).model_dump(),
        allocations=[AllocationRead.of(a) for a in queries.allocations(uow.session, fund_id)],
    )


def _utilisation(uow: UowDep, fund_id: str) -> list[UtilisationRow]:
    fund = queries.fund(uow.session, fund_id)
    return [UtilisationRow.of(fund, cell) for cell in queries.utilisation(uow.session, fund_id)]


@router.get("/open-data/funds/{fund_id}/utilisation", response_model=list[UtilisationRow])
def utilisation(fund_id: str, uow: UowDep) -> list[UtilisationRow]:
    """What each share received, allocated, paid out and got back, per township and quarter."""
    return _utilisation(uow, fund_id)


@router.get("/open-data/funds/{fund_id}/utilisation.csv", response_class=CsvResponse)
def utilisation_csv(fund_id: str, uow: UowDep) -> Response:
    """The same rows as CSV (UTF-8, a header of the field names)."""
    return CsvResponse(rows_csv(UtilisationRow, _utilisation(uow, fund_id)))
