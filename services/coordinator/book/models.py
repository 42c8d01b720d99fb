"""The book: the coordinator's copy of every need and offer the parties published."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base

__all__ = ["BookListing", "BookNeed", "BookOffer", "BookOfferArea", "OfferElsewhere", "SharedOffer"]


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
    # "open ones in this region": the status alone selects nearly every row
    __table_args__ = (Index("ix_book_needs_status_region", "status", "region"),)


class BookOffer(BookListing):
    __tablename__ = "book_offers"
    __table_args__ = (Index("ix_book_offers_status_region", "status", "region"),)

    service_area: Mapped[list[str]]


class BookOfferArea(Base):
    """One region an offer serves, by its significant prefix, so coverage is an indexed lookup."""

    __tablename__ = "book_offer_areas"

    offer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(12), primary_key=True, index=True)


class SharedOffer(Base):
    """What this partition last told other partitions of one of its offers (``offer.shared``):
    a notice goes out again only when this changes."""

    __tablename__ = "shared_offers"

    offer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int]
    status: Mapped[str] = mapped_column(String(20))
    remaining: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    regions: Mapped[list[str]]  # the subject regions told: one the offer no longer reaches is told so


class OfferElsewhere(Base):
    """An offer of another partition that serves this one's counties, as its owner last told
    (``offer.shared``): shown to the needs it could serve, never allocated here."""

    __tablename__ = "offers_elsewhere"

    offer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    offer: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), index=True)
    remaining: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    updated_at: Mapped[datetime]
