"""Routes of the government service's own entity: programmes."""

from fastapi import APIRouter, status

from services.government import service
from services.government.models import Programme
from services.government.schemas import ProgrammeCreate, ProgrammeRead
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
