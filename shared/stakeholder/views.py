"""The HTTP routes every stakeholder service has: organisations, needs, offers, categories."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from fastapi.concurrency import run_in_threadpool

from shared.app import BearerDep, Runtime, RuntimeDep, Scoped, UowDep
from shared.auth import is_admin_token
from shared.errors import InsufficientScope, Unauthorized
from shared.events.data import StakeholderKind
from shared.stakeholder import service
from shared.stakeholder.models import Listing, Organisation
from shared.stakeholder.schemas import (
    ListingCreate,
    ListingUpdate,
    NeedCreate,
    NeedRead,
    NeedUpdate,
    OfferCreate,
    OfferRead,
    OfferUpdate,
    OrganisationCreate,
    OrganisationRead,
    OrganisationRegistration,
    Withdrawal,
)
from shared.stakeholder.service import NEEDS, OFFERS, Side
from shared.taxonomy import CATEGORIES, VOCABULARIES

__all__ = [
    "GROUPED_WRITES",
    "AdminOnly",
    "AnyCredential",
    "CurrentOrg",
    "listing_read",
    "organisation_read",
    "stakeholder_router",
]

# A stakeholder service knows two credentials: an organisation's API key (scope
# ``organisation``: it acts for that organisation) and the admin token (scope ``admin``: it
# registers organisations, the bootstrap). Scoped API tokens are the coordinator's.


async def _caller(credentials: BearerDep, runtime: RuntimeDep) -> Organisation | None:
    """The organisation whose key the request carries, or None for the admin token. A key seen
    before is known without I/O; only a new one is looked up, in a worker thread."""
    if credentials is None:
        raise Unauthorized("send the organisation's API key: Authorization: Bearer <key>")
    if is_admin_token(credentials.credentials, runtime.settings.admin_token):
        return None
    org = service.known_organisation(runtime.engine, credentials.credentials)
    if org is None:
        org = await run_in_threadpool(_look_up, runtime, credentials.credentials)
    return org


def _look_up(runtime: Runtime, api_key: str) -> Organisation:
    with runtime.session_factory() as session:
        return service.authenticate(session, api_key)


Caller = Annotated[Organisation | None, Depends(_caller)]


class OrganisationKey(Scoped):
    """Admits an organisation's API key (scope ``organisation``) and returns the organisation;
    with ``admin_too`` the admin token passes as well (and None is returned)."""

    scope = "organisation"

    def __init__(self, *, admin_too: bool = False) -> None:
        self.admin_too = admin_too

    async def __call__(self, caller: Caller) -> Organisation | None:  # async: no thread hop
        if caller is None and not self.admin_too:
            raise InsufficientScope(
                "organisation",
                "this acts for an organisation (scope 'organisation'): send its API key; "
                "the admin token only registers organisations",
            )
        return caller


class AdminScope(Scoped):
    """Admits only the admin token (scope ``admin``)."""

    scope = "admin"

    async def __call__(self, caller: Caller) -> None:
        if caller is not None:
            raise InsufficientScope(
                "admin", "this needs the admin token (scope 'admin'); an organisation's API key may not"
            )


async def current_org(org: Annotated[Organisation | None, Depends(OrganisationKey())]) -> Organisation:
    assert org is not None  # OrganisationKey() admits no admin token
    return org


CurrentOrg = Annotated[Organisation, Depends(current_org)]
AnyCredential = Depends(OrganisationKey(admin_too=True))
AdminOnly = Depends(AdminScope())


def organisation_read(org: Organisation) -> OrganisationRead:
    return OrganisationRead(
        id=org.id,
        name=org.name,
        kind=org.kind,
        region=org.region,
        contact=service.contact_of(org),
        created_at=org.created_at,
    )


def listing_read(side: Side[Any], row: Listing) -> NeedRead | OfferRead:
    state = {
        "status": row.status,
        "withdrawn_reason": row.withdrawn_reason,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    data = service.listing_data(side, row).model_dump()
    return (OfferRead if side is OFFERS else NeedRead).model_validate(data | state)


# Publishing a need or an offer: the writes many organisations make at once, committed together.
GROUPED_WRITES = frozenset({("POST", "/needs"), ("POST", "/offers")})


def stakeholder_router(kind: StakeholderKind) -> APIRouter:
    """The core routes, for a service whose organisations are of ``kind``."""
    router = APIRouter()

    @router.post(
        "/organisations",
        status_code=status.HTTP_201_CREATED,
        response_model=OrganisationRegistration,
        tags=["organisations"],
        summary=f"Register a {kind} organisation (admin token)",
        dependencies=[AdminOnly],
    )
    def register(body: OrganisationCreate, uow: UowDep) -> OrganisationRegistration:
        org, api_key = service.register_organisation(uow, kind, body)
        return OrganisationRegistration(organisation=organisation_read(org), api_key=api_key)

    @router.get("/organisations/me", response_model=OrganisationRead, tags=["organisations"])
    def me(org: CurrentOrg) -> OrganisationRead:
        return organisation_read(org)

    @router.get(
        "/categories",
        tags=["categories"],
        summary="What this kind may post (any organisation's key, or the admin token)",
        dependencies=[AnyCredential],
    )
    def categories() -> dict[str, list[dict[str, str]]]:
        vocabulary = VOCABULARIES[kind]
        return {
            side: [
                {"code": c, "zh": CATEGORIES[c].zh, "en": CATEGORIES[c].en}
                for c in vocabulary.categories(side)
            ]
            for side in ("need", "offer")
        }

    _listing_routes(router, NEEDS, NeedCreate, NeedUpdate, NeedRead)
    _listing_routes(router, OFFERS, OfferCreate, OfferUpdate, OfferRead)
    return router


def _listing_routes(
    router: APIRouter,
    side: Side[Any],
    create_schema: type[ListingCreate],
    update_schema: type[ListingUpdate],
    read_schema: type[NeedRead] | type[OfferRead],
) -> None:
    tag = side.plural
    path = f"/{side.plural}"

    @router.post(
        path,
        status_code=status.HTTP_201_CREATED,
        response_model=read_schema,
        tags=[tag],
        summary=f"Publish a {side.name}",
    )
    async def create(body: create_schema, org: CurrentOrg, runtime: RuntimeDep) -> NeedRead | OfferRead:  # type: ignore[valid-type]
        return listing_read(side, await service.publish_grouped(runtime.writer, org, side, body))

    @router.get(
        path,
        response_model=list[read_schema],  # type: ignore[valid-type]
        tags=[tag],
        summary=f"The organisation's {side.plural}",
    )
    def list_(
        uow: UowDep,
        org: CurrentOrg,
        status_: Annotated[str | None, Query(alias="status", pattern="^(open|withdrawn)$")] = None,
        category: str | None = None,
    ) -> list[NeedRead | OfferRead]:
        rows = service.list_listings(uow.session, org, side, status=status_, category=category)
        return [listing_read(side, row) for row in rows]

    @router.get(path + "/{listing_id}", response_model=read_schema, tags=[tag])
    def get(listing_id: str, uow: UowDep, org: CurrentOrg) -> NeedRead | OfferRead:
        return listing_read(side, service.get_listing(uow.session, org, side, listing_id))

    @router.patch(
        path + "/{listing_id}",
        response_model=read_schema,
        tags=[tag],
        summary=f"Change an open {side.name} (only the fields sent)",
    )
    def update(listing_id: str, body: update_schema, uow: UowDep, org: CurrentOrg) -> NeedRead | OfferRead:  # type: ignore[valid-type]
        return listing_read(side, service.update_listing(uow, org, side, listing_id, body))

    @router.post(
        path + "/{listing_id}/withdraw",
        response_model=read_schema,
        tags=[tag],
        summary=f"Withdraw an open {side.name}",
    )
    def withdraw(listing_id: str, body: Withdrawal, uow: UowDep, org: CurrentOrg) -> NeedRead | OfferRead:
        return listing_read(side, service.withdraw_listing(uow, org, side, listing_id, body.reason))
