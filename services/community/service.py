"""Handlers of the community service."""

from services.community.models import ProduceLot
from services.community.schemas import DisputeCreate, LotCreate
from shared.db import UnitOfWork
from shared.events.data import DisputeRaised, LotOffered
from shared.events.envelope import new_event_id
from shared.requirements import Qualities
from shared.stakeholder.models import Organisation
from shared.stakeholder.schemas import OfferCreate
from shared.stakeholder.service import OFFERS, add_listing, emit

__all__ = ["offer_lot", "raise_dispute"]


def offer_lot(uow: UnitOfWork, org: Organisation, command: LotCreate) -> ProduceLot:
    """Offer a lot of produce: an offer in the shared book plus the lot's own details."""
    title = " ".join(part for part in (command.variety, command.grade) if part)
    offer = add_listing(
        uow.session,
        org,
        OFFERS,
        OfferCreate(
            category=command.product_category,
            title=title,
            description=command.description,
            quantity=command.quantity,
            unit=command.unit,
            region=command.region,
            service_area=command.service_area,
            window_start=command.window_start,
            window_end=command.window_end,
            attributes={
                "variety": command.variety,
                "grade": command.grade,
                "certifications": command.certifications,
            },
            qualities=Qualities(
                standards=command.standards,
                packaging=command.packaging,
                price_per_unit=command.price_per_unit,
            ),
        ),
    )
    lot = ProduceLot(
        id=new_event_id(),
        organisation_id=org.id,
        offer_id=offer.id,
        variety=command.variety,
        grade=command.grade,
        certifications=command.certifications,
    )
    lot.offer = offer
    uow.session.add(lot)
    event = LotOffered(
        lot_id=lot.id,
        organisation_id=org.id,
        offer_id=offer.id,
        product_category=offer.category,
        variety=lot.variety,
        grade=lot.grade,
        quantity=offer.quantity,
        unit=offer.unit,
        certifications=lot.certifications,
        window_start=offer.window_start,
        window_end=offer.window_end,
    )
    emit(uow.session, org, "lot", "offered", event, region=offer.region)
    uow.commit()
    return lot


def raise_dispute(uow: UnitOfWork, org: Organisation, command: DisputeCreate) -> DisputeRaised:
    """Raise a dispute for mediation and the joint meeting (the other parties are named by id)."""
    event = DisputeRaised(
        dispute_id=new_event_id(),
        organisation_id=org.id,
        title=command.title,
        description=command.description,
        other_parties=command.other_parties,
        region=org.region,
    )
    emit(uow.session, org, "dispute", "raised", event, region=org.region)
    uow.commit()
    return event
