"""Reads of the book, and the two filters every read of the coordinator's state shares:
``in_region`` (a region and everything under it) and ``in_category`` (a category and
everything under it)."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import SQLCoreOperations

from services.coordinator.book.models import BookListing, BookNeed, BookOffer
from services.coordinator.book.schemas import BookNeedRead, BookOfferRead
from shared.regions import significant_prefix

__all__ = ["ListingFilter", "code_starts_with", "in_category", "in_region", "needs", "offers"]

_Listing = TypeVar("_Listing", bound=BookListing)


def in_region(column: SQLCoreOperations[str], region: str) -> ColumnElement[bool]:
    """Rows whose region code lies in ``region`` (or is it): it starts with the code's
    significant prefix (``shared.regions.significant_prefix``)."""
    return code_starts_with(column, significant_prefix(region))


def code_starts_with(column: SQLCoreOperations[str], prefix: str) -> ColumnElement[bool]:
    """Rows whose region code starts with ``prefix``, as a range of the column's index
    (``prefix`` ≤ code < ``prefix:``; codes are digits and ``:`` sorts right after ``9``) rather
    than a ``LIKE`` that SQLite answers by reading the whole table."""
    if not prefix.isdigit():
        return column.startswith(prefix)
    return and_(column >= prefix, column < prefix + ":")


def unindexed(column: SQLCoreOperations[str]) -> ColumnElement[str]:
    """``column`` as an expression no index answers (``column || ''``), for a condition most
    rows meet (``status = 'open'``): SQLite then drives the query from a more selective index
    (the ids of a subquery) instead of walking the whole of that one."""
    return column.concat("")


def in_category(column: SQLCoreOperations[str], category: str) -> ColumnElement[bool]:
    """Rows of ``category`` or of a category under it: ``produce`` holds ``produce.fruit``
    but not ``produce_extra``."""
    return or_(column == category, column.startswith(category + ".", autoescape=True))


@dataclass(frozen=True)
class ListingFilter:
    """What a read of the book narrows it by; a field left ``None`` (or empty) does not narrow."""

    category: str | None = None
    region: str | None = None
    kind: str | None = None
    status: str | None = None
    organisation_id: str | None = None


def needs(session: Session, where: ListingFilter, limit: int = 100, offset: int = 0) -> list[BookNeedRead]:
    """The needs matching ``where``, in the order they were published."""
    return [BookNeedRead.model_validate(row) for row in _listings(session, BookNeed, where, limit, offset)]


def offers(session: Session, where: ListingFilter, limit: int = 100, offset: int = 0) -> list[BookOfferRead]:
    """The offers matching ``where``, in the order they were published."""
    return [BookOfferRead.model_validate(row) for row in _listings(session, BookOffer, where, limit, offset)]


def _listings(
    session: Session, model: type[_Listing], where: ListingFilter, limit: int, offset: int
) -> Sequence[_Listing]:
    query = select(model)
    if where.category:
        query = query.where(in_category(model.category, where.category))
    if where.region:
        query = query.where(in_region(model.region, where.region))
    if where.kind:
        query = query.where(model.kind == where.kind)
    if where.status:
        query = query.where(model.status == where.status)
    if where.organisation_id:
        query = query.where(model.organisation_id == where.organisation_id)
    query = query.order_by(model.published_at, model.id).limit(limit).offset(offset)
    return session.scalars(query).all()
