"""``GET /organisations``: the registry of organisations (scope ``read:book``)."""

from fastapi import APIRouter

from services.coordinator.access.dependencies import require
from services.coordinator.book.views import Region
from services.coordinator.registry import queries
from services.coordinator.registry.schemas import OrganisationEntry
from shared.app import UowDep
from shared.events.data import StakeholderKind
from shared.paging import Limit, Offset

__all__ = ["router"]

router = APIRouter()
READ_BOOK = require("read:book")


@router.get(
    "/organisations", response_model=list[OrganisationEntry], tags=["registry"], dependencies=[READ_BOOK]
)
def organisations(
    uow: UowDep,
    kind: StakeholderKind | None = None,
    region: Region = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[OrganisationEntry]:
    return queries.organisations(uow.session, kind=kind, region=region, limit=limit, offset=offset)
