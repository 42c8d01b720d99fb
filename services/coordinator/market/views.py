"""Market information as open data: ``GET /open-data/market`` (JSON), ``.csv`` and its schema.

The figures are county aggregates of the book, never one organisation's listing, so they are
published without a token, for villages, researchers and the parties' own systems alike."""

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from services.coordinator.book.views import Category, Region
from services.coordinator.market import queries
from services.coordinator.market.queries import MarketFilter
from services.coordinator.market.schemas import MarketCellRead, cells_csv
from services.coordinator.market.service import cell_details, key_of
from shared.app import UowDep
from shared.paging import Limit, Offset
from shared.reasons import language

__all__ = ["router"]

router = APIRouter(tags=["market"])


class CsvResponse(Response):
    media_type = "text/csv; charset=utf-8"


Month = Annotated[str | None, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
State = Annotated[str | None, Query(pattern="^(shortage|glut|balanced)$")]
Lang = Annotated[str | None, Query(pattern="^(zh|en)$", description="the language of `reason`")]


def _rows(
    uow: UowDep,
    region: str | None,
    category: str | None,
    month_from: str | None,
    month_to: str | None,
    state: str | None,
    lang: str | None,
    limit: int,
    offset: int,
) -> Sequence[MarketCellRead]:
    where = MarketFilter(region, category, month_from, month_to, state)
    cells = queries.market_cells(uow.session, where, limit, offset)
    details = cell_details(uow.session, cells)
    return [MarketCellRead.of(cell, details[key_of(cell)], language(lang)) for cell in cells]


@router.get("/open-data/market", response_model=list[MarketCellRead])
def market(
    uow: UowDep,
    region: Region = None,
    category: Category = None,
    month_from: Month = None,
    month_to: Month = None,
    state: State = None,
    lang: Lang = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Sequence[MarketCellRead]:
    """Demand, supply, matching and signals per county, category family and month, newest
    month first (``docs/open-data.md``)."""
    return _rows(uow, region, category, month_from, month_to, state, lang, limit, offset)


@router.get("/open-data/market.csv", response_class=CsvResponse)
def market_csv(
    uow: UowDep,
    region: Region = None,
    category: Category = None,
    month_from: Month = None,
    month_to: Month = None,
    state: State = None,
    lang: Lang = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """The same rows as CSV (UTF-8, a header of the field names, empty cells for nulls)."""
    rows = _rows(uow, region, category, month_from, month_to, state, lang, limit, offset)
    return CsvResponse(cells_csv(rows))


@router.get("/open-data/market/schema")
def market_schema() -> dict[str, Any]:
    """The JSON Schema of one row (the CSV's columns are its properties, in order)."""
    return MarketCellRead.model_json_schema()
