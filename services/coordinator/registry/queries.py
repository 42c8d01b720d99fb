"""Reads of the registry of organisations."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.coordinator.book.queries import in_region
from services.coordinator.registry.models import RegisteredOrganisation
from services.coordinator.registry.schemas import OrganisationEntry

__all__ = ["organisation_names", "organisations"]


def organisations(
    session: Session,
    *,
    kind: str | None = None,
    region: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[OrganisationEntry]:
    """The registered organisations (of ``kind``, in ``region``), in the order they registered."""
    query = select(RegisteredOrganisation)
    if kind:
        query = query.where(RegisteredOrganisation.kind == kind)
    if region:
        query = query.where(in_region(RegisteredOrganisation.region, region))
    query = query.order_by(RegisteredOrganisation.registered_at, RegisteredOrganisation.id)
    rows = session.scalars(query.limit(limit).offset(offset))
    return [OrganisationEntry.model_validate(row) for row in rows]


def organisation_names(session: Session) -> dict[str, str]:
    """Every registered organisation's name by id (for pages and exports that show names)."""
    query = select(RegisteredOrganisation.id, RegisteredOrganisation.name)
    return {id_: name for id_, name in session.execute(query)}
