"""``GET /needs`` and ``GET /offers``: the coordinator's copy of every need and offer, filtered
(scope ``read:book``). ``Region`` and ``Category`` are the query parameters every read of the
coordinator filters by."""

from collections.abc import Callable, Sequence
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from services.coordinator.access.dependencies import require
from services.coordinator.book import queries
from services.coordinator.book.queries import ListingFilter
from services.coordinator.book.schemas import BookNeedRead, BookOfferRead
from shared.app import UowDep
from shared.events.data import RegionCode, StakeholderKind
from shared.paging import Limit, Offset

__all__ = ["Category", "Region", "router"]

router = APIRouter()
READ_BOOK = require("read:book")

Region = Annotated[RegionCode | None, Query(description="this region and everything under it")]
Category = Annotated[str | None, Query(description="a category and everything under it")]
Status = Annotated[str | None, Query(pattern="^(open|withdrawn)$")]

_Query = Callable[[Session, ListingFilter, int, int], Sequence[BookNeedRead]]


def _book_route(path: str, read: type[BookNeedRead], query: _Query) -> None:
    """``GET path``: the coordinator's copy of every need (or offer), filtered."""

    @router.get(path, response_model=list[read], tags=["book"], dependencies=[READ_BOOK])  # type: ignore[valid-type]
    def listings(
        uow: UowDep,
        category: Category = None,
        region: Region = None,
        kind: StakeholderKind | None = None,
        status: Status = None,
        organisation_id: str | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Sequence[BookNeedRead]:
        where = ListingFilter(
            category=category, region=region, kind=kind, status=status, organisation_id=organisation_id
        )
        return query(uow.session, where, limit, offset)


_book_route("/needs", BookNeedRead, queries.needs)
_book_route("/offers", BookOfferRead, queries.offers)
