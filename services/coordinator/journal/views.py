"""``GET /events``: the event log in stream order, with provenance (scope ``read:events``);
``GET /dead-letters``: what the coordinator could not apply (scope ``admin``)."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.coordinator.access.dependencies import require
from services.coordinator.journal import queries
from services.coordinator.journal.schemas import DeadLetterRead, EventRead
from shared.app import UowDep
from shared.errors import NotFound
from shared.events.data import StakeholderKind
from shared.paging import AfterSequence, Limit, Offset

__all__ = ["router"]

router = APIRouter()


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
    return queries.events(
        uow.session,
        event_type=type,
        kind=kind,
        region=region,
        organisation_id=organisation_id,
        entity_id=entity_id,
        correlation_id=correlation_id,
        after_sequence=after_sequence,
        limit=limit,
    )


@router.get(
    "/dead-letters",
    response_model=list[DeadLetterRead],
    tags=["events"],
    summary="Messages the coordinator could not apply, with the reason (operators: admin)",
    dependencies=[require("admin")],
)
def dead_letters(uow: UowDep, limit: Limit = 100, offset: Offset = 0) -> list[DeadLetterRead]:
    return queries.dead_letters(uow.session, limit=limit, offset=offset)


class PartitionRead(BaseModel):
    consumer: str = Field(description="the durable consumer whose record this coordinator holds")
    regions: list[str] = Field(description="the counties it owns; empty: every county")


@router.get(
    "/partition",
    response_model=PartitionRead,
    tags=["events"],
    summary="The counties this coordinator owns (COORDINATOR_REGIONS) and its consumer",
    dependencies=[require("read:book")],
)
def partition(uow: UowDep) -> PartitionRead:
    record = queries.partition(uow.session)
    if record is None:
        raise NotFound("this coordinator has not started consuming yet", field="partition")
    return PartitionRead(consumer=record.consumer, regions=record.regions)
