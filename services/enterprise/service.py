"""Handlers of the enterprise service."""

from services.enterprise.models import ProcurementRequest
from services.enterprise.schemas import ProcurementCreate
from shared.db import UnitOfWork
from shared.events.data import ProcurementRequested
from shared.events.envelope import new_event_id
from shared.stakeholder.models import Organisation
from shared.stakeholder.schemas import NeedCreate
from shared.stakeholder.service import NEEDS, add_listing, emit

__all__ = ["request_procurement"]


def request_procurement(uow: UnitOfWork, org: Organisation, command: ProcurementCreate) -> ProcurementRequest:
    """Ask to buy produce: a need in the shared book, its requirements in the need's attributes."""
    requirements = command.requirements
    need = add_listing(
        uow.session,
        org,
        NEEDS,
        NeedCreate(
            category=command.product_category,
            title=command.title,
            description=command.description,
            quantity=command.quantity,
            unit=command.unit,
            region=command.region,
            window_start=command.window_start,
            window_end=command.window_end,
            requirements=requirements,
        ),
    )
    request = ProcurementRequest(
        id=new_event_id(),
        organisation_id=org.id,
        need_id=need.id,
        # the older columns; the full requirements are in the need's attributes
        grade=(requirements.preferred_grade or "")[:40],
        max_price_per_unit=requirements.price_max,
    )
    request.need = need
    uow.session.add(request)
    event = ProcurementRequested(
        request_id=request.id,
        organisation_id=org.id,
        need_id=need.id,
        product_category=need.category,
        grade=request.grade,
        quantity=need.quantity,
        unit=need.unit,
        max_price_per_unit=requirements.price_max,
        window_start=need.window_start,
        window_end=need.window_end,
    )
    emit(uow.session, org, "procurement", "requested", event, region=need.region)
    uow.commit()
    return request
