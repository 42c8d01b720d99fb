"""The registry: an organisation is registered once, by the service of its kind, and its kind
never changes. Everything else an organisation publishes waits until it is registered."""

from datetime import datetime

from sqlalchemy.orm import Session

from services.coordinator.registry.models import RegisteredOrganisation
from shared.errors import Conflict, Forbidden
from shared.events.data import OrganisationRegistered

__all__ = ["register"]


def register(session: Session, data: OrganisationRegistered, *, publisher_kind: str, at: datetime) -> None:
    """Enter the organisation in the registry."""
    if data.kind != publisher_kind:
        raise Forbidden(
            f"the {publisher_kind} service cannot register a {data.kind} organisation", field="kind"
        )
    known = session.get(RegisteredOrganisation, data.organisation_id)
    if known is not None:
        raise Conflict(
            f"organisation {data.organisation_id} is registered already (as {known.kind}); "
            "an organisation is registered once and its kind never changes",
            field="organisation_id",
        )
    session.add(
        RegisteredOrganisation(
            id=data.organisation_id,
            name=data.name,
            kind=data.kind,
            region=data.region,
            contact=data.contact.model_dump(),
            registered_at=at,
        )
    )
