"""The registry's handler: an organisation's registration, from the service of its kind."""

from pydantic import BaseModel

from services.coordinator.bus import Applied, EventHandler, UnitOfWork
from services.coordinator.registry.service import register
from shared.events.data import OrganisationRegistered

__all__ = ["EVENT_HANDLERS"]


def registered(event: Applied[OrganisationRegistered], uow: UnitOfWork) -> None:
    register(uow.session, event.data, publisher_kind=event.envelope.source_kind, at=event.envelope.time)


EVENT_HANDLERS: dict[type[BaseModel], EventHandler] = {OrganisationRegistered: registered}
