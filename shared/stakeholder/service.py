"""Handlers of the stakeholder core. Each takes a unit of work and commits it itself;
the ``add_*`` helpers work inside a caller's transaction so services can build on them."""

import weakref
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from shared.auth import hash_api_key, new_api_key
from shared.db import UnitOfWork, utcnow
from shared.errors import Conflict, InvalidInput, NotFound, Unauthorized
from shared.events.catalogue import CATALOGUE
from shared.events.data import (
    Contact,
    EventData,
    NeedData,
    NeedWithdrawn,
    OfferData,
    OfferWithdrawn,
    OrganisationRegistered,
)
from shared.events.envelope import new_event_id
from shared.group_commit import GroupCommit
from shared.messaging.outbox import record_event
from shared.stakeholder.models import Listing, Need, Offer, Organisation
from shared.stakeholder.schemas import (
    ListingCreate,
    ListingUpdate,
    OfferCreate,
    OfferUpdate,
    OrganisationCreate,
)
from shared.taxonomy import VOCABULARIES
from shared.tracing import current_trace_context

__all__ = [
    "NEEDS",
    "OFFERS",
    "Side",
    "add_listing",
    "authenticate",
    "check_category",
    "emit",
    "get_listing",
    "known_organisation",
    "list_listings",
    "listing_data",
    "publish_grouped",
    "publish_listing",
    "register_organisation",
    "update_listing",
    "withdraw_listing",
]


L = TypeVar("L", Need, Offer)


@dataclass(frozen=True)
class Side(Generic[L]):
    """Needs or offers: the one place where the two differ."""

    name: Literal["need", "offer"]
    model: type[L]

    @property
    def plural(self) -> str:
        return self.name + "s"


NEEDS: Side[Need] = Side("need", Need)
OFFERS: Side[Offer] = Side("offer", Offer)


def emit(
    session: Session, org: Organisation, entity: str, verb: str, data: EventData, *, region: str
) -> None:
    """Record an event about ``org``'s doing in the session's transaction (the outbox)."""
    event_type = CATALOGUE[f"sifang.{entity}.{verb}.v1"]
    subject, event = event_type.build(
        kind=org.kind, organisation_id=org.id, region=region, data=data, trace_context=current_trace_context()
    )
    record_event(session, subject, event)


def register_organisation(
    uow: UnitOfWork, kind: str, command: OrganisationCreate
) -> tuple[Organisation, str]:
    """Register an organisation of this service's kind; returns it and its API key (shown once)."""
    api_key = new_api_key()
    org = Organisation(
        id=new_event_id(),
        name=command.name,
        kind=kind,
        region=command.region,
        contact_person=command.contact.person,
        contact_phone=command.contact.phone,
        contact_email=command.contact.email,
        api_key_hash=hash_api_key(api_key),
        created_at=utcnow(),
    )
    uow.session.add(org)
    data = OrganisationRegistered(
        organisation_id=org.id,
        name=org.name,
        kind=kind,
        region=org.region,
        contact=command.contact,
    )
    emit(uow.session, org, "organisation", "registered", data, region=org.region)
    uow.commit()
    return org, api_key


def contact_of(org: Organisation) -> Contact:
    return Contact(person=org.contact_person, phone=org.contact_phone, email=org.contact_email)


# The organisation behind each key seen, per database: an organisation and its key never change
# once registered, so a key is looked up once per process (a write saves its SELECT). Detached
# and read-only; bounded, emptied when full.
_KNOWN_KEYS: "weakref.WeakKeyDictionary[Engine | Connection, dict[str, Organisation]]" = (
    weakref.WeakKeyDictionary()
)
KNOWN_KEYS_MAX = 100_000


def known_organisation(bind: Engine | Connection, api_key: str) -> Organisation | None:
    """The organisation of ``api_key`` if this process has seen the key in that database before
    (no I/O, so the event loop may ask)."""
    known = _KNOWN_KEYS.get(bind)
    return None if known is None else known.get(hash_api_key(api_key))


def authenticate(session: Session, api_key: str) -> Organisation:
    org = known_organisation(session.get_bind(), api_key)
    if org is not None:
        return org
    digest = hash_api_key(api_key)
    org = session.scalar(select(Organisation).where(Organisation.api_key_hash == digest))
    if org is None:
        raise Unauthorized("unknown API key")
    session.expunge(org)  # loaded, and kept out of this session's rollbacks and expiries
    known = _KNOWN_KEYS.setdefault(session.get_bind(), {})
    if len(known) >= KNOWN_KEYS_MAX:
        known.clear()
    known[digest] = org
    return org


def listing_data(side: Side[L], row: Listing) -> NeedData | OfferData:
    """The event data (the whole current state) of a need or offer."""
    fields = {
        "organisation_id": row.organisation_id,
        "category": row.category,
        "title": row.title,
        "description": row.description,
        "quantity": row.quantity,
        "unit": row.unit,
        "region": row.region,
        "window_start": row.window_start,
        "window_end": row.window_end,
        "attributes": row.attributes,
        "version": row.version,
    }
    if isinstance(row, Offer):
        return OfferData(offer_id=row.id, service_area=row.service_area, **fields)
    return NeedData(need_id=row.id, **fields)


def check_category(org: Organisation, side: Side[L], category: str) -> None:
    """Any organisation may need anything; what it may offer depends on its kind."""
    vocabulary = VOCABULARIES[org.kind]
    if not vocabulary.allows(side.name, category):
        raise InvalidInput(
            f"a {org.kind} organisation cannot post a {side.name} in {category!r}; "
            f"its {side.plural} are under: {', '.join(vocabulary.offers)}",
            field="category",
        )


def add_listing(session: Session, org: Organisation, side: Side[L], command: ListingCreate) -> L:
    """Create a need or offer and its ``published`` event inside the caller's transaction."""
    check_category(org, side, command.category)
    now = utcnow()
    region = command.region or org.region
    row = side.model(
        id=new_event_id(),
        organisation_id=org.id,
        category=command.category,
        title=command.title,
        description=command.description,
        quantity=command.quantity,
        unit=command.unit,
        region=region,
        window_start=command.window_start,
        window_end=command.window_end,
        attributes=command.listing_attributes(),
        status="open",
        version=1,
        created_at=now,
        updated_at=now,
    )
    if isinstance(row, Offer):
        assert isinstance(command, OfferCreate)
        row.service_area = command.service_area or [region]
    session.add(row)
    # No flush: the row and its event reach the database together at commit, so a SQLite
    # writer holds the write lock only for the INSERTs and the commit, not while building the event.
    emit(session, org, side.name, "published", listing_data(side, row), region=region)
    return row


def publish_listing(uow: UnitOfWork, org: Organisation, side: Side[L], command: ListingCreate) -> L:
    """Publish a need or offer (the API's POST and the portal's form)."""
    row = add_listing(uow.session, org, side, command)
    uow.commit()
    return row


async def publish_grouped(writer: GroupCommit, org: Organisation, side: Side[L], command: ListingCreate) -> L:
    """Publish a need or offer in the writer's next group commit (the API's POST). The category
    is checked first: in a group commit a write that raises makes the others of its batch run
    again, and a request with a wrong category should cost them nothing."""
    check_category(org, side, command.category)
    return await writer.write(lambda session: add_listing(session, org, side, command))


def get_listing(
    session: Session, org: Organisation, side: Side[L], listing_id: str, *, for_update: bool = False
) -> L:
    """One of ``org``'s own needs or offers; others' are not found. ``for_update`` locks its row
    until the transaction ends (PostgreSQL; SQLite has one writer anyway): a change made through
    another replica waits, so versions never repeat and events leave the outbox in change order."""
    row = session.get(side.model, listing_id, with_for_update=for_update)
    if row is None or row.organisation_id != org.id:
        raise NotFound(f"no {side.name} {listing_id!r} of this organisation", field="id")
    return row


def list_listings(
    session: Session, org: Organisation, side: Side[L], *, status: str | None, category: str | None
) -> list[L]:
    query = select(side.model).where(side.model.organisation_id == org.id)
    if status:
        query = query.where(side.model.status == status)
    if category:
        query = query.where(
            (side.model.category == category) | side.model.category.startswith(category + ".")
        )
    return list(session.scalars(query.order_by(side.model.created_at, side.model.id)))


def update_listing(
    uow: UnitOfWork, org: Organisation, side: Side[L], listing_id: str, command: ListingUpdate
) -> Listing:
    """Change an open need or offer; publishes ``updated`` with its whole new state."""
    row = get_listing(uow.session, org, side, listing_id, for_update=True)
    if row.status != "open":
        raise Conflict(f"this {side.name} is {row.status} and can no longer change", field="status")
    changes = command.model_dump(exclude_unset=True, exclude={"requirements", "qualities"})
    for field in ("category", "title", "quantity", "unit", "region", "attributes"):
        if field in changes and changes[field] is None:
            raise InvalidInput(f"{field} cannot be null", field=field)
    for field in {"requirements", "qualities"} & command.model_fields_set:
        if getattr(command, field) is None:
            raise InvalidInput(f"{field} cannot be null; send {{}} to clear them", field=field)
    attributes = command.attributes_after(row.attributes)
    if attributes is not None:
        changes["attributes"] = attributes
    if isinstance(command, OfferUpdate) and changes.get("service_area") is None:
        changes.pop("service_area", None)
    if "category" in changes:
        check_category(org, side, changes["category"])
    if changes.get("region") and changes["region"][:6] != row.region[:6]:
        # its events stay on its county's subjects, which one coordinator partition owns
        raise InvalidInput(
            f"a {side.name} stays in its county ({row.region[:6]}): withdraw it and publish a new one "
            "in the other county",
            field="region",
        )
    start = changes.get("window_start", row.window_start)
    end = changes.get("window_end", row.window_end)
    if start and end and end < start:
        raise InvalidInput("window_end is before window_start", field="window_end")
    changed = {k: v for k, v in changes.items() if getattr(row, k) != v}
    if not changed:
        return row
    for field, value in changed.items():
        setattr(row, field, value)
    row.version += 1
    row.updated_at = utcnow()
    uow.session.flush()
    emit(uow.session, org, side.name, "updated", listing_data(side, row), region=row.region)
    uow.commit()
    return row


def withdraw_listing(uow: UnitOfWork, org: Organisation, side: Side[L], listing_id: str, reason: str) -> L:
    """Withdraw an open need or offer; publishes ``withdrawn``."""
    row = get_listing(uow.session, org, side, listing_id, for_update=True)
    if row.status != "open":
        raise Conflict(f"this {side.name} is already {row.status}", field="status")
    row.status = "withdrawn"
    row.withdrawn_reason = reason
    row.updated_at = utcnow()
    data: EventData
    if side is OFFERS:
        data = OfferWithdrawn(offer_id=row.id, organisation_id=org.id, reason=reason, version=row.version)
    else:
        data = NeedWithdrawn(need_id=row.id, organisation_id=org.id, reason=reason, version=row.version)
    emit(uow.session, org, side.name, "withdrawn", data, region=row.region)
    uow.commit()
    return row
