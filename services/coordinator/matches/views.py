"""``GET /matches`` and ``GET /matches/{match_id}``: proposals, confirmations and fulfilments,
each with its explanation; ``GET /needs/{id}/diagnosis`` and ``GET /offers/{id}/diagnosis``:
why a listing is not matched (scope ``read:book``)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query

from services.coordinator.access.dependencies import require
from services.coordinator.book.views import Category, Region
from services.coordinator.matches import queries
from services.coordinator.matches.schemas import Diagnosis, MatchRead
from shared.app import UowDep
from shared.db import utcnow
from shared.errors import NotFound
from shared.paging import Limit, Offset
from shared.reasons import language

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


Lang = Annotated[
    Literal["zh", "en"] | None,
    Query(description="language of the texts: zh or en (default: Accept-Language, else zh)"),
]


def _diagnosis(
    side: Literal["need", "offer"], listing_id: str, uow: UowDep, lang: str | None, accept: str | None
) -> Diagnosis:
    found = queries.diagnosis(uow.session, side, listing_id, language(lang or accept), utcnow().date())
    if found is None:
        raise NotFound(f"no {side} {listing_id!r} in the coordinator's book", field=f"{side}_id")
    return found


@router.get(
    "/needs/{need_id}/diagnosis",
    response_model=Diagnosis,
    tags=["matches"],
    summary="Why a need is not (fully) matched: the nearest offers and the filter each fails",
    dependencies=[READ_BOOK],
)
def need_diagnosis(
    need_id: str, uow: UowDep, lang: Lang = None, accept_language: Annotated[str | None, Header()] = None
) -> Diagnosis:
    return _diagnosis("need", need_id, uow, lang, accept_language)


@router.get(
    "/offers/{offer_id}/diagnosis",
    response_model=Diagnosis,
    tags=["matches"],
    summary="Why an offer is not (fully) allocated: the nearest needs and the filter each fails",
    dependencies=[READ_BOOK],
)
def offer_diagnosis(
    offer_id: str, uow: UowDep, lang: Lang = None, accept_language: Annotated[str | None, Header()] = None
) -> Diagnosis:
    return _diagnosis("offer", offer_id, uow, lang, accept_language)
