"""Routes of the enterprise service's own entity: procurement requests."""

from fastapi import APIRouter, status

from services.enterprise import service
from services.enterprise.models import ProcurementRequest
from services.enterprise.schemas import ProcurementCreate, ProcurementRead
from shared.app import UowDep
from shared.requirements import Requirements
from shared.stakeholder.app import owned_entity_routes
from shared.stakeholder.service import NEEDS
from shared.stakeholder.views import CurrentOrg, listing_read

__all__ = ["router"]

router = APIRouter()


def procurement_read(request: ProcurementRequest) -> ProcurementRead:
    return ProcurementRead(
        id=request.id,
        organisation_id=request.organisation_id,
        grade=request.grade,
        max_price_per_unit=request.max_price_per_unit,
        requirements=Requirements.of(request.need.attributes),
        created_at=request.created_at,
        need=listing_read(NEEDS, request.need),
    )


@router.post(
    "/procurements",
    status_code=status.HTTP_201_CREATED,
    response_model=ProcurementRead,
    tags=["procurements"],
    summary="Ask to buy produce",
)
def request_procurement(body: ProcurementCreate, uow: UowDep, org: CurrentOrg) -> ProcurementRead:
    return procurement_read(service.request_procurement(uow, org, body))


owned_entity_routes(
    router, "/procurements", ProcurementRequest, procurement_read, ProcurementRead, "procurements"
)
