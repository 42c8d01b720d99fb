"""Reading the cross-sector projects: by status, member organisation and region."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.coordinator.book.queries import in_region
from services.coordinator.projects.models import Project

__all__ = ["projects"]


def projects(
    session: Session,
    *,
    status: str | None = None,
    organisation_id: str | None = None,
    region: str | None = None,
) -> Sequence[Project]:
    """Projects newest first; ``organisation_id`` keeps those it is a member of."""
    query = select(Project)
    if status:
        query = query.where(Project.status == status)
    if region:
        query = query.where(in_region(Project.region, region))
    rows = session.scalars(query.order_by(Project.created_at.desc(), Project.id)).all()
    if organisation_id:
        rows = [p for p in rows if any(m["organisation_id"] == organisation_id for m in p.members)]
    return rows
