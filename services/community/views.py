"""Routes of the community service's own entity: produce lots."""

from fastapi import APIRouter, status

from services.community import service
from services.community.models import ProduceLot
from services.community.schemas import LotCreate, LotRead
from shared.app import UowDep
from shared.stakeholder.app import owned_entity_routes
from shared.stakeholder.service import OFFERS
from shared.stakeholder.views import CurrentOrg, listing_read

__all__ = ["router"]

router = APIRouter()


def lot_read(lot: ProduceLot) -> LotRead:
    return LotRead(
        id=lot.id,
        organisation_id=lot.organisation_id,
        variety=lot.variety,
        grade=lot.grade,
        certifications=lot.certifications,
        created_at=lot.created_at,
        offer=listing_read(OFFERS, lot.offer),
    )


@router.post(
    "/lots",
    status_code=status.HTTP_201_CREATED,
    response_model=LotRead,
    tags=["lots"],
    summary="Offer a lot of produce",
)
def offer_lot(body: LotCreate, uow: UowDep, org: CurrentOrg) -> LotRead:
    return lot_read(service.offer_lot(uow, org, body))


owned_entity_routes(router, "/lots", ProduceLot, lot_read, LotRead, "lots")
