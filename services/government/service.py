"""Handlers of the government service."""

from services.government.models import Programme
from services.government.schemas import ProgrammeCreate
from shared.db import UnitOfWork
from shared.events.data import ProgrammeOpened
from shared.events.envelope import new_event_id
from shared.stakeholder.models import Organisation
from shared.stakeholder.schemas import OfferCreate
from shared.stakeholder.service import OFFERS, add_listing, emit

__all__ = ["open_programme"]


def open_programme(uow: UnitOfWork, org: Organisation, command: ProgrammeCreate) -> Programme:
    """Open a programme: an offer in the shared book carrying its machine-readable eligibility."""
    eligibility = command.eligibility.model_dump(mode="json")
    offer = add_listing(
        uow.session,
        org,
        OFFERS,
        OfferCreate(
            category=command.effective_category,
            title=command.name,
            description=command.description,
            quantity=command.budget,
            unit=command.effective_unit,
            region=command.region,
            service_area=command.service_area,
            window_start=command.window_start,
            window_end=command.window_end,
            attributes={"programme_kind": command.programme_kind, "eligibility": eligibility},
        ),
    )
    programme = Programme(
        id=new_event_id(),
        organisation_id=org.id,
        offer_id=offer.id,
        name=command.name,
        programme_kind=command.programme_kind,
        eligibility=eligibility,
    )
    programme.offer = offer
    uow.session.add(programme)
    event = ProgrammeOpened(
        programme_id=programme.id,
        organisation_id=org.id,
        offer_id=offer.id,
        name=programme.name,
        programme_kind=command.programme_kind,
        budget=offer.quantity,
        unit=offer.unit,
        eligibility=command.eligibility,
        window_start=offer.window_start,
        window_end=offer.window_end,
    )
    emit(uow.session, org, "programme", "opened", event, region=offer.region)
    uow.commit()
    return programme
