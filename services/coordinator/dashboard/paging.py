"""Lists that page and sort in the database, with every filter kept in the URL, and their CSV.

A list is a query (its filters applied) and the columns it may be sorted by. A page is one
``LIMIT``/``OFFSET`` of it, in the chosen order with the primary key breaking ties, and the count
of all matching rows; the CSV export walks the same query in the same order, batch by batch, so
neither ever loads the whole list. Cells of a CSV that a spreadsheet would read as a formula
(starting with ``= + - @``, a tab or a carriage return) are prefixed with ``'``."""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import urlencode

from fastapi import Query
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import QueryableAttribute, Session

__all__ = [
    "BATCH",
    "PER_PAGE",
    "Page",
    "Paging",
    "Sorts",
    "batches",
    "page_of",
    "paging",
]

T = TypeVar("T")
Column = ColumnElement[Any] | QueryableAttribute[Any]
PER_PAGE = 50
MAX_PER_PAGE = 500
BATCH = 1000  # rows a CSV export reads at a time


@dataclass(frozen=True)
class Paging:
    """What the URL asks for: a page of so many rows, sorted by a named column."""

    page: int = 1
    per_page: int = PER_PAGE
    sort: str = ""
    order: str = ""


def paging(
    page: Annotated[int, Query(ge=1, le=10**9)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = PER_PAGE,
    sort: Annotated[str, Query(max_length=40)] = "",
    order: Annotated[str, Query(pattern="^(asc|desc)?$")] = "",
) -> Paging:
    """The paging query parameters every list shares (a FastAPI dependency)."""
    return Paging(page, per_page, sort, order)


@dataclass(frozen=True)
class Sorts:
    """The columns a list may be sorted by, by the name the URL uses; ``key`` breaks ties."""

    columns: Mapping[str, Sequence[Column]]
    default: str
    default_order: str
    key: Column

    def chosen(self, asked: Paging) -> tuple[str, str]:
        """The sort and order to use: the default for one the list does not know."""
        if asked.sort in self.columns:
            return asked.sort, asked.order or "asc"
        return self.default, asked.order or self.default_order

    def ordered(self, query: Select[Any], asked: Paging) -> Select[Any]:
        sort, order = self.chosen(asked)
        columns = [c.desc() if order == "desc" else c.asc() for c in self.columns[sort]]
        return query.order_by(*columns, self.key.desc() if order == "desc" else self.key.asc())


@dataclass
class Page(Generic[T]):
    """One page of a list, and the links that keep its filters."""

    rows: list[T]
    total: int
    page: int
    per_page: int
    sort: str
    order: str
    path: str
    filters: dict[str, str] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first_row(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.rows else 0

    @property
    def last_row(self) -> int:
        return (self.page - 1) * self.per_page + len(self.rows)

    def _query(self, **changes: object) -> str:
        params: dict[str, object] = {
            **self.filters,
            "sort": self.sort,
            "order": self.order,
            "per_page": self.per_page if self.per_page != PER_PAGE else "",
            "page": self.page if self.page != 1 else "",
        }
        params |= changes
        return urlencode({k: v for k, v in params.items() if v not in ("", None)})

    def url(self, **changes: object) -> str:
        query = self._query(**changes)
        return f"{self.path}?{query}" if query else self.path

    def page_url(self, page: int) -> str:
        return self.url(page=page if page != 1 else "")

    def sort_url(self, column: str) -> str:
        """Sorted by ``column`` from the first page; again on the sorted column turns the order."""
        order = "desc" if column == self.sort and self.order == "asc" else "asc"
        return self.url(sort=column, order=order, page="")

    def csv_url(self, **extra: object) -> str:
        """The CSV of every row the filters select, in this order."""
        query = self._query(page="", per_page="", **extra)
        return f"{self.path}.csv?{query}" if query else f"{self.path}.csv"


def page_of(
    session: Session,
    query: Select[Any],
    sorts: Sorts,
    asked: Paging,
    path: str,
    filters: Mapping[str, str],
) -> Page[Any]:
    """The asked page of ``query`` (a page past the end shows the last one)."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    pages = max(1, -(-total // asked.per_page))
    number = min(asked.page, pages)
    rows = session.scalars(
        sorts.ordered(query, asked).limit(asked.per_page).offset((number - 1) * asked.per_page)
    ).all()
    sort, order = sorts.chosen(asked)
    kept = {k: v for k, v in filters.items() if v}
    return Page(list(rows), total, number, asked.per_page, sort, order, path, kept)


def batches(session: Session, query: Select[Any], sorts: Sorts, asked: Paging) -> Iterator[list[Any]]:
    """Every row of ``query`` in the asked order, ``BATCH`` rows at a time."""
    ordered = sorts.ordered(query, asked)
    offset = 0
    while True:
        batch = list(session.scalars(ordered.limit(BATCH).offset(offset)).all())
        if batch:
            yield batch
        if len(batch) < BATCH:
            return
        offset += BATCH
