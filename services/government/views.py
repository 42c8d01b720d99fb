"""Routes of the government service's own entities: programmes and the special-fund ledger."""

from fastapi import APIRouter, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.government import service
from services.government.models import Fund, FundAllocation, FundEntry, FundShareAccount, Programme
from services.government.schemas import (
    AllocationCreate,
    AllocationRead,
    DisbursementCreate,
    FundCreate,
    FundEntryRead,
    FundRead,
    ProgrammeCreate,
    ProgrammeRead,
    ReturnCreate,
    ShareRead,
    TrancheCreate,
)
from shared.app import UowDep
from shared.events.data import EligibilityRules
from shared.stakeholder.app import owned_entity_routes
from shared.stakeholder.service import OFFERS
from shared.stakeholder.views import CurrentOrg, listing_read

__all__ = ["router"]

router = APIRouter()


def programme_read(programme: Programme) -> ProgrammeRead:
    return ProgrammeRead(
        id=programme.id,
        organisation_id=programme.organisation_id,
        name=programme.name,
        programme_kind=programme.programme_kind,
        eligibility=EligibilityRules.model_validate(programme.eligibility),
        created_at=programme.created_at,
        offer=listing_read(OFFERS, programme.offer),
    )


@router.post(
    "/programmes",
    status_code=status.HTTP_201_CREATED,
    response_model=ProgrammeRead,
    tags=["programmes"],
    summary="Open a programme (subsidy, fund or training)",
)
def open_programme(body: ProgrammeCreate, uow: UowDep, org: CurrentOrg) -> ProgrammeRead:
    return programme_read(service.open_programme(uow, org, body))


owned_entity_routes(router, "/programmes", Programme, programme_read, ProgrammeRead, "programmes")


def share_read(account: FundShareAccount) -> ShareRead:
    balance = account.balance()
    return ShareRead(
        share=account.share,
        name=account.name,
        purpose=account.purpose,
        planned=balance.planned,
        received=balance.received,
        committed=balance.committed,
        paid=balance.paid,
        uncommitted=balance.uncommitted,
        cash=balance.cash,
    )


def allocation_read(allocation: FundAllocation) -> AllocationRead:
    return AllocationRead(
        id=allocation.id,
        share=allocation.share,
        amount=allocation.amount,
        released=allocation.released,
        disbursed=allocation.disbursed,
        repaid=allocation.repaid,
        undisbursed=allocation.balance().undisbursed,
        allocated_on=allocation.allocated_on,
        township=allocation.township,
        purpose=allocation.purpose,
        recipient_organisation_id=allocation.recipient_organisation_id,
        recipient_name=allocation.recipient_name,
        match_id=allocation.match_id,
        project=allocation.project,
        project_id=allocation.project_id,
        budget_line=allocation.budget_line,
    )


def fund_read(session: Session, fund: Fund) -> FundRead:
    allocations = session.scalars(
        select(FundAllocation)
        .where(FundAllocation.fund_id == fund.id)
        .order_by(FundAllocation.created_at, FundAllocation.id)
    )
    return FundRead(
        id=fund.id,
        organisation_id=fund.organisation_id,
        name=fund.name,
        fiscal_year=fund.fiscal_year,
        region=fund.region,
        description=fund.description,
        version=fund.version,
        created_at=fund.created_at,
        shares=[share_read(account) for account in fund.shares],
        allocations=[allocation_read(a) for a in allocations],
    )


@router.post(
    "/funds",
    status_code=status.HTTP_201_CREATED,
    response_model=FundRead,
    tags=["funds"],
    summary="Set up a special fund with earmarked shares",
)
def open_fund(body: FundCreate, uow: UowDep, org: CurrentOrg) -> FundRead:
    return fund_read(uow.session, service.open_fund(uow, org, body))


@router.get("/funds", response_model=list[FundRead], tags=["funds"], summary="The organisation's funds")
def list_funds(uow: UowDep, org: CurrentOrg) -> list[FundRead]:
    funds = uow.session.scalars(
        select(Fund).where(Fund.organisation_id == org.id).order_by(Fund.created_at, Fund.id)
    )
    return [fund_read(uow.session, fund) for fund in funds]


@router.get(
    "/funds/{fund_id}",
    response_model=FundRead,
    tags=["funds"],
    summary="One fund, its shares and allocations",
)
def get_fund(fund_id: str, uow: UowDep, org: CurrentOrg) -> FundRead:
    return fund_read(uow.session, service.get_fund(uow.session, org, fund_id))


@router.get(
    "/funds/{fund_id}/entries",
    response_model=list[FundEntryRead],
    tags=["funds"],
    summary="The fund's ledger, entry by entry",
)
def fund_entries(fund_id: str, uow: UowDep, org: CurrentOrg) -> list[FundEntryRead]:
    fund = service.get_fund(uow.session, org, fund_id)
    entries = uow.session.scalars(
        select(FundEntry).where(FundEntry.fund_id == fund.id).order_by(FundEntry.version)
    )
    return [
        FundEntryRead(version=e.version, entry_kind=e.entry_kind, data=e.data, recorded_at=e.recorded_at)
        for e in entries
    ]


@router.post(
    "/funds/{fund_id}/tranches",
    status_code=status.HTTP_201_CREATED,
    response_model=FundRead,
    tags=["funds"],
    summary="Record money received, split over the shares",
    responses={409: {"description": "a share would receive more than it earmarks"}},
)
def receive_tranche(fund_id: str, body: TrancheCreate, uow: UowDep, org: CurrentOrg) -> FundRead:
    entry = service.receive_tranche(uow, org, fund_id, body)
    return fund_read(uow.session, service.get_fund(uow.session, org, entry.fund_id))


@router.post(
    "/funds/{fund_id}/allocations",
    status_code=status.HTTP_201_CREATED,
    response_model=AllocationRead,
    tags=["funds"],
    summary="Allocate part of a share to a project or a confirmed match",
    responses={409: {"description": "the share would be over-allocated, or the match cannot take it"}},
)
def allocate(fund_id: str, body: AllocationCreate, uow: UowDep, org: CurrentOrg) -> AllocationRead:
    return allocation_read(service.allocate(uow, org, fund_id, body))


@router.post(
    "/funds/{fund_id}/allocations/{allocation_id}/disbursements",
    status_code=status.HTTP_201_CREATED,
    response_model=AllocationRead,
    tags=["funds"],
    summary="Pay part of an allocation out, against evidence",
    responses={409: {"description": "the allocation or its share would be over-disbursed"}},
)
def disburse(
    fund_id: str, allocation_id: str, body: DisbursementCreate, uow: UowDep, org: CurrentOrg
) -> AllocationRead:
    return allocation_read(service.disburse(uow, org, fund_id, allocation_id, body))


@router.post(
    "/funds/{fund_id}/allocations/{allocation_id}/returns",
    status_code=status.HTTP_201_CREATED,
    response_model=AllocationRead,
    tags=["funds"],
    summary="Give money of an allocation back to its share (repaid or released)",
    responses={409: {"description": "more than the allocation paid out (or left unpaid)"}},
)
def give_back(
    fund_id: str, allocation_id: str, body: ReturnCreate, uow: UowDep, org: CurrentOrg
) -> AllocationRead:
    return allocation_read(service.give_back(uow, org, fund_id, allocation_id, body))
