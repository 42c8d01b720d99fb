"""The coordinator's API for mediation: disputes (scope ``read:meetings``), naming a mediator
(``run:meetings``, a coordinator's instruction), and the county's chain of mediation records
with its verification. Parties and mediators act through their own services."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.coordinator.access.dependencies import require
from services.coordinator.book.views import Region
from services.coordinator.instructions import carry_out
from services.coordinator.mediation import queries
from services.coordinator.mediation.commands import AssignMediator
from services.coordinator.mediation.service import dispute_data, get_dispute, record_data
from services.coordinator.meetings.views import Coordinator
from shared.app import RuntimeDep, UowDep
from shared.events.data import DisputeData, MediationRecordData

__all__ = ["router"]

router = APIRouter(tags=["mediation"])
READ = require("read:meetings")

Status = Annotated[str | None, Query(pattern="^(awaiting_mediator|in_mediation|settled|escalated|decided)$")]
County = Annotated[str, Query(pattern="^[0-9]{6}$", description="a county code")]


@router.get(
    "/disputes", dependencies=[READ], response_model=list[DisputeData], summary="Disputes and their mediation"
)
def list_disputes(
    uow: UowDep, status: Status = None, organisation_id: str | None = None, region: Region = None
) -> list[DisputeData]:
    rows = queries.disputes(uow.session, status=status, organisation_id=organisation_id, region=region)
    return [dispute_data(d) for d in rows]


@router.get("/disputes/{dispute_id}", dependencies=[READ], response_model=DisputeData, summary="One dispute")
def get_one(dispute_id: str, uow: UowDep) -> DisputeData:
    return dispute_data(get_dispute(uow.session, dispute_id))


@router.post(
    "/disputes/{dispute_id}/mediator",
    response_model=DisputeData,
    summary="Name the neutral social-work organisation that mediates the dispute",
)
def assign(
    dispute_id: str, body: AssignMediator, uow: UowDep, runtime: RuntimeDep, who: Coordinator
) -> DisputeData:
    carry_out(uow, runtime, body, target=dispute_id, coordinator=who)
    return dispute_data(get_dispute(uow.session, dispute_id))


class ChainRead(BaseModel):
    valid: bool
    records: int
    broken_at: int | None = Field(description="the sequence of the first record that does not fit")
    head: str | None = Field(description="the last record's hash; null when the chain is broken")


@router.get(
    "/mediation-records",
    dependencies=[READ],
    response_model=list[MediationRecordData],
    summary="A county's chain of mediation outcomes",
)
def mediation_records(uow: UowDep, county: County) -> list[MediationRecordData]:
    return [record_data(r) for r in queries.records(uow.session, county)]


@router.get(
    "/mediation-records/verify",
    dependencies=[READ],
    response_model=ChainRead,
    summary="Recompute a county's chain",
)
def verify(uow: UowDep, county: County) -> ChainRead:
    verdict = queries.verify_county(uow.session, county)
    return ChainRead(
        valid=verdict.valid, records=verdict.records, broken_at=verdict.broken_at, head=verdict.head
    )
