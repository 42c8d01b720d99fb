"""Market information as open data: ``GET /open-data/market`` (JSON), ``.csv`` and its schema.

The figures are county aggregates of the book, never one organisation's listing, so they are
published without a token, for villages, researchers and the parties' own systems alike."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from services.coordinator.book.views import Category, Region
from services.coordinator.market import queries
from services.coordinator.market.queries import MarketFilter
from services.coordinator.market.schemas import MarketCellRead
from services.coordinator.market.service import cell_details, key_of
from shared.app import UowDep
from shared.csv_export import CsvResponse, rows_csv
from shared.paging import Limit, Offset
from shared.reasons import language

__all__ = ["router"]

router = APIRouter(tags=["market"])


Month = Annotated[str | None, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
State = Annotated[str | None, Query(pattern="^(shortage|glut|balanced)$")]
Lang = Annotated[str | None, Query(pattern="^(zh|en)$", description="the language of `reason`")]


@dataclass(frozen=True)
class MarketQuery:
    """What a read of the open data asks for: the cells, the language of their reasons, a page."""

    where: MarketFilter
    lang: str | None
    limit: int
    offset: int


def market_query(
    region: Region = None,
    category: Category = None,
    month_from: Month = None,
    month_to: Month = None,
    state: State = None,
    lang: Lang = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> MarketQuery:
    return MarketQuery(MarketFilter(region, category, month_from, month_to, state), lang, limit, offset)


Asked = Annotated[MarketQuery, Depends(market_query)]


def _rows(uow: UowDep, asked: MarketQuery) -> Sequence[MarketCellRead]:
    cells = queries.market_cells(uow.session, asked.where, asked.limit, asked.offset)
    details = cell_details(uow.session, cells)
    return [MarketCellRead.of(cell, details[key_of(cell)], language(asked.lang)) for cell in cells]


@router.get("/open-data/market", response_model=list[MarketCellRead])
def market(uow: UowDep, asked: Asked) -> Sequence[MarketCellRead]:
    """Demand, supply, matching and signals per county, category family and month, newest
    month first (``docs/open-data.md``)."""
    return _rows(uow, asked)


@router.get("/open-data/market.csv", response_class=CsvResponse)
def market_csv(uow: UowDep, asked: Asked) -> Response:
    """The same rows as CSV (UTF-8, a header of the field names, empty cells for nulls)."""
    return CsvResponse(rows_csv(MarketCellRead, _rows(uow, asked)))


@router.get("/open-data/market/schema")
def market_schema() -> dict[str, Any]:
    """The JSON Schema of one row (the CSV's columns are its properties, in order)."""
    return MarketCellRead.model_json_schema()
