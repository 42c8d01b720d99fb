"""``GET /matches`` and ``GET /matches/{match_id}``: proposals, confirmations and fulfilments,
each with its explanation (scope ``read:book``)."""

from typing import Annotated

from fastapi import APIRouter, Query

from services.coordinator.access.dependencies import require
from services.coordinator.book.views import Category, Region
from services.coordinator.matches import queries
from services.coordinator.matches.schemas import MatchRead
from shared.app import UowDep
from shared.errors import NotFound
from shared.paging import Limit, Offset

__all__ = ["router"]

router = APIRouter()
READ_BOOK = require("read:book")

MatchStatusFilter = Annotated[
    str | None, Query(pattern="^(proposed|confirmed|fulfilled|declined|expired|withdrawn)$")
]


@router.get(
    "/matches",
    response_model=list[MatchRead],
    tags=["matches"],
    summary="Proposals, confirmations and fulfilments, newest first",
    dependencies=[READ_BOOK],
)
def matches(
    uow: UowDep,
    status: MatchStatusFilter = None,
    organisation_id: str | None = None,
    need_id: str | None = None,
    offer_id: str | None = None,
    category: Category = None,
    region: Region = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[MatchRead]:
    return queries.matches(
        uow.session,
        status=status,
        organisation_id=organisation_id,
        need_id=need_id,
        offer_id=offer_id,
        category=category,
        region=region,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/matches/{match_id}",
    response_model=MatchRead,
    tags=["matches"],
    summary="One match with its explanation in words",
    dependencies=[READ_BOOK],
)
def match(match_id: str, uow: UowDep) -> MatchRead:
    found = queries.match(uow.session, match_id)
    if found is None:
        raise NotFound(f"no match {match_id!r}", field="match_id")
    return found
