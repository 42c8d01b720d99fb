"""Keeping the book: the coordinator's copy of each need and offer follows its publisher's
events. Each event carries the listing's whole state and version, so a late copy of an older
state never overwrites a newer one; only the organisation that published a listing changes it."""

from collections.abc import Iterable
from datetime import datetime
from typing import Literal, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.coordinator.book.models import BookListing, BookNeed, BookOffer, BookOfferArea
from shared.db import kept, transaction_set
from shared.errors import Forbidden
from shared.events.data import NeedData, NeedWithdrawn, OfferData, OfferWithdrawn
from shared.regions import significant_prefix

__all__ = [
    "ListingEvent",
    "find_listing",
    "listing_key",
    "listing_model",
    "read_ahead",
    "sync_offer_areas",
    "upsert_listing",
    "withdraw_listing",
]

ListingEvent = NeedData | OfferData | NeedWithdrawn | OfferWithdrawn
Listing = TypeVar("Listing", bound=BookListing)


def listing_model(data: ListingEvent) -> type[BookListing]:
    return BookNeed if isinstance(data, NeedData | NeedWithdrawn) else BookOffer


def listing_key(data: ListingEvent) -> tuple[str, str]:
    """``("need", id)`` or ``("offer", id)``: which listing the event is about."""
    if isinstance(data, NeedData | NeedWithdrawn):
        return "need", data.need_id
    return "offer", data.offer_id


# session.info: (transaction, the listings read ahead and found missing from the book in it)
_ABSENT = "sifang.absent_listings"


def read_ahead(session: Session, model: type[Listing], ids: Iterable[str]) -> dict[str, Listing]:
    """Read the listings ``ids`` of a batch of events in one query, ahead of the events: those
    in the book are held by the session for its look-ups, those not are remembered as missing
    (until ``upsert_listing`` adds them), so :func:`find_listing` asks the database for neither.
    Returns those found, by id."""
    wanted = set(ids)
    if not wanted:
        return {}
    found = {row.id: kept(session, row) for row in session.scalars(select(model).where(model.id.in_(wanted)))}
    transaction_set(session, _ABSENT).update((model, listing_id) for listing_id in wanted - found.keys())
    return found


def find_listing(session: Session, model: type[Listing], listing_id: str) -> Listing | None:
    """The book's copy of a listing, or None: ``session.get``, but without a query for one that
    :func:`read_ahead` found missing in this transaction."""
    if (model, listing_id) in transaction_set(session, _ABSENT):
        return None
    return session.get(model, listing_id)


def _owned(row: BookListing, organisation_id: str) -> None:
    if row.organisation_id != organisation_id:
        raise Forbidden(
            f"organisation {organisation_id} acted on {row.id}, which belongs to {row.organisation_id}",
            field="organisation_id",
        )


def sync_offer_areas(session: Session, offer: BookOffer, *, new: bool = False) -> None:
    """Index the offer's service area by significant prefix, so coverage is an indexed lookup
    (``new``: the offer was just added, so it has no index rows yet)."""
    if not new:
        session.execute(delete(BookOfferArea).where(BookOfferArea.offer_id == offer.id))
    for prefix in sorted({significant_prefix(area) for area in offer.service_area}):
        session.add(BookOfferArea(offer_id=offer.id, prefix=prefix))


def upsert_listing(
    session: Session,
    data: NeedData | OfferData,
    *,
    publisher: str,
    publisher_kind: str,
    at: datetime,
    existing: BookListing | Literal["unread"] | None = "unread",
) -> BookListing | None:
    """Bring the book's copy to the event's state; None for a late copy of an older state.

    ``existing``: the book's copy (or None, when there is none) if the caller read it already."""
    model = listing_model(data)
    _, listing_id = listing_key(data)
    row = find_listing(session, model, listing_id) if isinstance(existing, str) else existing
    new = row is None
    if row is None:
        row = model(
            id=listing_id,
            status="open",
            version=0,
            published_at=at,
            withdrawn_reason=None,
            kind=publisher_kind,
        )
        session.add(kept(session, row))  # held: the batch's later events about it find it
        transaction_set(session, _ABSENT).discard((model, listing_id))
    else:
        _owned(row, publisher)
        if data.version <= row.version:
            return None
    row.organisation_id = data.organisation_id
    row.category = data.category
    row.title = data.title
    row.description = data.description
    row.quantity = data.quantity
    row.unit = data.unit
    row.region = data.region
    row.window_start = data.window_start
    row.window_end = data.window_end
    row.attributes = data.attributes
    row.version = data.version
    row.updated_at = at
    if isinstance(row, BookOffer) and isinstance(data, OfferData):
        row.service_area = data.service_area
        session.flush()
        sync_offer_areas(session, row, new=new)
    return row  # written with the transaction's next flush


def withdraw_listing(
    session: Session, data: NeedWithdrawn | OfferWithdrawn, *, publisher: str, at: datetime
) -> BookListing:
    """Mark the listing withdrawn, with its publisher's reason."""
    model = listing_model(data)
    _, listing_id = listing_key(data)
    row = find_listing(session, model, listing_id)
    if row is None:
        raise LookupError(f"{listing_id} is not in the book: the projection holds a withdrawal until it is")
    _owned(row, publisher)
    row.status = "withdrawn"
    row.withdrawn_reason = data.reason
    row.updated_at = at
    return row
