"""Routes of the community service's own entity: produce lots."""

from typing import Annotated

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from services.community import service
from services.community.models import ProduceLot
from services.community.schemas import LotCreate, LotRead
from shared.app import UowDep
from shared.events.data import DisputeRaised
from shared.events.envelope import new_event_id
from shared.requirements import Qualities
from shared.stakeholder.app import owned_entity_routes
from shared.stakeholder.service import OFFERS, emit
from shared.stakeholder.views import CurrentOrg, listing_read

__all__ = ["router"]

router = APIRouter()


def lot_read(lot: ProduceLot) -> LotRead:
    qualities = Qualities.of(lot.offer.attributes)  # standards, packaging and price live there
    return LotRead(
        id=lot.id,
        organisation_id=lot.organisation_id,
        variety=lot.variety,
        grade=lot.grade,
        certifications=lot.certifications,
        standards=qualities.standards,
        packaging=qualities.packaging,
        price_per_unit=qualities.price_per_unit,
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


class DisputeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=5000)] = ""
    other_parties: list[str] = Field(
        default_factory=list, max_length=10, description="organisations involved"
    )


@router.post(
    "/disputes",
    status_code=status.HTTP_201_CREATED,
    tags=["disputes"],
    summary="Raise a dispute for the joint meeting to take up",
)
def raise_dispute(body: DisputeCreate, uow: UowDep, org: CurrentOrg) -> DisputeRaised:
    event = DisputeRaised(
        dispute_id=new_event_id(),
        organisation_id=org.id,
        title=body.title,
        description=body.description,
        other_parties=body.other_parties,
        region=org.region,
    )
    emit(uow.session, org, "dispute", "raised", event, region=org.region)
    uow.commit()
    return event
