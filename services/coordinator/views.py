"""The coordinator's read API: registry, book of needs and offers, event log, dead letters.

Each route needs a token with its scope (``services.coordinator.access``): ``read:book`` for
the registry, the book and matches, ``read:events`` for the event log, ``admin`` for dead letters.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import Select, select

from services.coordinator.access.tokens import require
from services.coordinator.book.models import BookListing, BookNeed, BookOffer
from services.coordinator.journal.models import EventLogEntry
from services.coordinator.matches.models import Match
from services.coordinator.matches.service import match_data
from services.coordinator.registry.models import RegisteredOrganisation
from services.coordinator.schemas import (
    BookNeedRead,
    BookOfferRead,
    DeadLetterRead,
    EventRead,
    MatchRead,
    OrganisationEntry,
)
from shared.app import UowDep
from shared.errors import NotFound
from shared.events.data import RegionCode, StakeholderKind
from shared.messaging.models import DeadLetter
from shared.paging import AfterSequence, Limit, Offset
from shared.regions import significant_prefix

__all__ = ["router"]

router = APIRouter()
READ_BOOK = require("read:book")

Region = Annotated[RegionCode | None, Query(description="this region and everything under it")]


def _within(column: Any, region: str) -> Any:
    """Rows whose region code lies in ``region`` (the code's significant prefix)."""
    return column.startswith(significant_prefix(region))


@router.get(
    "/organisations", response_model=list[OrganisationEntry], tags=["registry"], dependencies=[READ_BOOK]
)
def organisations(
    uow: UowDep,
    kind: StakeholderKind | None = None,
    region: Region = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[OrganisationEntry]:
    query = select(RegisteredOrganisation)
    if kind:
        query = query.where(RegisteredOrganisation.kind == kind)
    if region:
        query = query.where(_within(RegisteredOrganisation.region, region))
    query = query.order_by(RegisteredOrganisation.registered_at, RegisteredOrganisation.id)
    rows = uow.session.scalars(query.limit(limit).offset(offset))
    return [OrganisationEntry.model_validate(row) for row in rows]


def _book_query(
    model: type[BookListing],
    *,
    category: str | None,
    region: str | None,
    kind: str | None,
    status: str | None,
    organisation_id: str | None,
) -> Select[Any]:
    query = select(model)
    if category:
        query = query.where((model.category == category) | model.category.startswith(category + "."))
    if region:
        query = query.where(_within(model.region, region))
    if kind:
        query = query.where(model.kind == kind)
    if status:
        query = query.where(model.status == status)
    if organisation_id:
        query = query.where(model.organisation_id == organisation_id)
    return query.order_by(model.published_at, model.id)


Status = Annotated[str | None, Query(pattern="^(open|withdrawn)$")]
Category = Annotated[str | None, Query(description="a category and everything under it")]


def _book_route(path: str, model: type[BookListing], read: type[BookNeedRead]) -> None:
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
    ) -> list[BookNeedRead]:
        query = _book_query(
            model,
            category=category,
            region=region,
            kind=kind,
            status=status,
            organisation_id=organisation_id,
        )
        return [read.model_validate(row) for row in uow.session.scalars(query.limit(limit).offset(offset))]


_book_route("/needs", BookNeed, BookNeedRead)
_book_route("/offers", BookOffer, BookOfferRead)


@router.get(
    "/events",
    response_model=list[EventRead],
    tags=["events"],
    summary="The event log in stream order, with provenance",
    dependencies=[require("read:events")],
)
def events(
    uow: UowDep,
    type: str | None = None,
    kind: StakeholderKind | None = None,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    organisation_id: str | None = None,
    entity_id: str | None = None,
    correlation_id: str | None = None,
    after_sequence: AfterSequence = 0,
    limit: Limit = 100,
) -> list[EventRead]:
    query = select(EventLogEntry).where(EventLogEntry.stream_sequence > after_sequence)
    filters = {
        EventLogEntry.type: type,
        EventLogEntry.kind: kind,
        EventLogEntry.region: region,
        EventLogEntry.organisation_id: organisation_id,
        EventLogEntry.entity_id: entity_id,
        EventLogEntry.correlation_id: correlation_id,
    }
    for column, value in filters.items():
        if value:
            query = query.where(column == value)
    rows = uow.session.scalars(query.order_by(EventLogEntry.stream_sequence).limit(limit))
    return [EventRead.model_validate(row) for row in rows]


@router.get(
    "/dead-letters",
    response_model=list[DeadLetterRead],
    tags=["events"],
    summary="Messages the coordinator could not apply, with the reason (operators: admin)",
    dependencies=[require("admin")],
)
def dead_letters(uow: UowDep, limit: Limit = 100, offset: Offset = 0) -> list[DeadLetterRead]:
    query = select(DeadLetter).order_by(DeadLetter.id).limit(limit).offset(offset)
    return [
        DeadLetterRead(
            id=row.id,
            consumer=row.consumer,
            stream_sequence=row.stream_sequence,
            subject=row.subject,
            event_id=row.event_id,
            reason=row.reason,
            deliveries=row.deliveries,
            created_at=row.created_at,
            payload=row.payload.decode("utf-8", errors="replace"),
            redriven_at=row.redriven_at,
        )
        for row in uow.session.scalars(query)
    ]


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
    query = select(Match)
    if status:
        query = query.where(Match.status == status)
    if organisation_id:
        query = query.where(
            (Match.need_organisation_id == organisation_id) | (Match.offer_organisation_id == organisation_id)
        )
    if need_id:
        query = query.where(Match.need_id == need_id)
    if offer_id:
        query = query.where(Match.offer_id == offer_id)
    if category:
        query = query.where((Match.category == category) | Match.category.startswith(category + "."))
    if region:
        query = query.where(_within(Match.region, region))
    query = query.order_by(Match.updated_at.desc(), Match.id).limit(limit).offset(offset)
    return [match_read(m) for m in uow.session.scalars(query)]


@router.get(
    "/matches/{match_id}",
    response_model=MatchRead,
    tags=["matches"],
    summary="One match with its explanation in words",
    dependencies=[READ_BOOK],
)
def match(match_id: str, uow: UowDep) -> MatchRead:
    row = uow.session.get(Match, match_id)
    if row is None:
        raise NotFound(f"no match {match_id!r}", field="match_id")
    return match_read(row)


def match_read(row: Match) -> MatchRead:
    return MatchRead(**match_data(row).model_dump(), partition=row.partition, updated_at=row.updated_at)
