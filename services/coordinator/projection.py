"""How each stakeholder event changes the coordinator's state.

A pure function of the event and the current state, so replaying the stream in order
rebuilds the same registry, book and log. Need and offer events carry the whole state and a
version, so an older version arriving late never overwrites a newer one.
"""

from sqlalchemy.orm import Session

from services.coordinator.models import (
    BookListing,
    BookNeed,
    BookOffer,
    EventLogEntry,
    RegisteredOrganisation,
)
from shared.db import utcnow
from shared.events.data import (
    NeedData,
    NeedWithdrawn,
    OfferData,
    OfferWithdrawn,
    OrganisationRegistered,
)
from shared.events.validation import CheckedEvent
from shared.messaging.consumer import Delivery, EventRejected

__all__ = ["apply_event"]


def apply_event(session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
    """Apply one checked stakeholder event; raises EventRejected for one that must not apply."""
    envelope, data = checked.envelope, checked.data
    match data:
        case OrganisationRegistered():
            _register(session, data, checked)
        case NeedData() | OfferData():
            _upsert_listing(session, data, checked)
        case NeedWithdrawn() | OfferWithdrawn():
            _withdraw_listing(session, data, checked)
        case _:  # the services' own entity events are kept in the log
            pass
    session.add(
        EventLogEntry(
            event_id=envelope.id,
            stream_sequence=delivery.stream_sequence,
            nats_subject=delivery.subject,
            type=envelope.type,
            source=envelope.source,
            kind=envelope.source_kind,
            organisation_id=envelope.source_org,
            entity_id=envelope.subject,
            region=envelope.region,
            time=envelope.time,
            correlation_id=envelope.correlationid,
            causation_id=envelope.causationid,
            data=envelope.data,
            received_at=utcnow(),
        )
    )


def _register(session: Session, data: OrganisationRegistered, checked: CheckedEvent) -> None:
    if session.get(RegisteredOrganisation, data.organisation_id) is not None:
        raise EventRejected(f"organisation {data.organisation_id} is registered already")
    session.add(
        RegisteredOrganisation(
            id=data.organisation_id,
            name=data.name,
            kind=data.kind,
            region=data.region,
            contact=data.contact.model_dump(),
            registered_at=checked.envelope.time,
        )
    )


def _model_of(data: NeedData | OfferData | NeedWithdrawn | OfferWithdrawn) -> type[BookListing]:
    return BookNeed if isinstance(data, NeedData | NeedWithdrawn) else BookOffer


def _owned(row: BookListing, checked: CheckedEvent) -> None:
    if row.organisation_id != checked.envelope.source_org:
        raise EventRejected(
            f"organisation {checked.envelope.source_org} acted on {row.id}, "
            f"which belongs to {row.organisation_id}"
        )


def _upsert_listing(session: Session, data: NeedData | OfferData, checked: CheckedEvent) -> None:
    model = _model_of(data)
    listing_id = data.need_id if isinstance(data, NeedData) else data.offer_id
    row = session.get(model, listing_id)
    when = checked.envelope.time
    if row is None:
        row = model(
            id=listing_id,
            status="open",
            version=0,
            published_at=when,
            withdrawn_reason=None,
            kind=checked.envelope.source_kind,
        )
        session.add(row)
    else:
        _owned(row, checked)
        if data.version <= row.version:
            return  # a late copy of an older state
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
    row.updated_at = when
    if isinstance(row, BookOffer) and isinstance(data, OfferData):
        row.service_area = data.service_area


def _withdraw_listing(session: Session, data: NeedWithdrawn | OfferWithdrawn, checked: CheckedEvent) -> None:
    model = _model_of(data)
    listing_id = data.need_id if isinstance(data, NeedWithdrawn) else data.offer_id
    row = session.get(model, listing_id)
    if row is None:
        raise EventRejected(f"withdrawal of {listing_id}, which the coordinator never saw published")
    _owned(row, checked)
    row.status = "withdrawn"
    row.withdrawn_reason = data.reason
    row.updated_at = checked.envelope.time
