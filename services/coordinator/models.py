"""The coordinator's tables: what it has learnt from the stakeholder services' events."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base
from shared.messaging.models import MESSAGING_TABLES

__all__ = [
    "TABLES",
    "BookListing",
    "BookNeed",
    "BookOffer",
    "EventLogEntry",
    "RegisteredOrganisation",
]


class RegisteredOrganisation(Base):
    __tablename__ = "registry_organisations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    region: Mapped[str] = mapped_column(String(12), index=True)
    contact: Mapped[dict[str, Any]]
    registered_at: Mapped[datetime]


class BookListing(Base):
    """A need or offer as the coordinator knows it; a replica of the publisher's record."""

    __abstract__ = True

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    category: Mapped[str] = mapped_column(String(100), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    unit: Mapped[str] = mapped_column(String(40))
    region: Mapped[str] = mapped_column(String(12), index=True)
    window_start: Mapped[date | None]
    window_end: Mapped[date | None]
    attributes: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), index=True)
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int]
    published_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class BookNeed(BookListing):
    __tablename__ = "book_needs"


class BookOffer(BookListing):
    __tablename__ = "book_offers"

    service_area: Mapped[list[str]]


class BookOfferArea(Base):
    """One region an offer serves, by its significant prefix, so coverage is an indexed lookup."""

    __tablename__ = "book_offer_areas"

    offer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(12), primary_key=True, index=True)


class Match(Base):
    """A proposed pairing of (part of) a need with (part of) an offer, and what became of it."""

    __tablename__ = "matches"
    __table_args__ = (Index("ix_matches_partition_status", "partition", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    partition: Mapped[str] = mapped_column(String(120))
    need_id: Mapped[str] = mapped_column(String(36), index=True)
    offer_id: Mapped[str] = mapped_column(String(36), index=True)
    need_organisation_id: Mapped[str] = mapped_column(String(36), index=True)
    offer_organisation_id: Mapped[str] = mapped_column(String(36), index=True)
    category: Mapped[str] = mapped_column(String(100))
    region: Mapped[str] = mapped_column(String(12))
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    unit: Mapped[str] = mapped_column(String(40))
    offer_quantity: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    offer_unit: Mapped[str] = mapped_column(String(40))
    base_quantity: Mapped[float]
    score: Mapped[float]
    status: Mapped[str] = mapped_column(String(20), index=True)
    accepted_by: Mapped[list[str]]
    fulfilled_quantity: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    explanation: Mapped[dict[str, Any]]
    reason: Mapped[str] = mapped_column(Text)
    proposed_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    @property
    def holds_capacity(self) -> bool:
        """Confirmed, fulfilled, or accepted by one side already: not re-solved away."""
        return self.status in ("confirmed", "fulfilled") or (
            self.status == "proposed" and bool(self.accepted_by)
        )


class EventLogEntry(Base):
    """Every applied event with its provenance, in stream order."""

    __tablename__ = "event_log"

    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    stream_sequence: Mapped[int] = mapped_column(BigInteger, unique=True)
    nats_subject: Mapped[str] = mapped_column(String(300))
    type: Mapped[str] = mapped_column(String(100), index=True)
    source: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    organisation_id: Mapped[str] = mapped_column(String(36), index=True)
    entity_id: Mapped[str] = mapped_column(String(100), index=True)
    region: Mapped[str] = mapped_column(String(6), index=True)
    time: Mapped[datetime]
    correlation_id: Mapped[str] = mapped_column(String(100), index=True)
    causation_id: Mapped[str | None] = mapped_column(String(100))
    data: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]


TABLES = (
    *MESSAGING_TABLES,
    RegisteredOrganisation.__table__,
    BookNeed.__table__,
    BookOffer.__table__,
    EventLogEntry.__table__,
    BookOfferArea.__table__,
    Match.__table__,
)
