"""The coordinator's tables: what it has learnt from the stakeholder services' events."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Numeric, String, Text
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
)
