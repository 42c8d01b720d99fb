"""The open book as a re-solve reads it, kept decoded in memory between transactions.

A re-solve reads every open need and offer of its partition: at 100k open items about two
thousand rows, each built into an ORM object with its attributes decoded from JSON, again for
every event that touches the partition. Yet a listing's content changes only with its version.
So a re-solve reads just each listing's key (id, version and last change, from the
``(status, region)`` index and the primary key) and takes the content from a
:class:`SnapshotCache` kept per database; only listings it has not seen in that state are read
whole.

**Only committed content is kept.** A listing written in the transaction doing the reading
(``mark_written``, by the book's writers) is read whole and not kept: were the transaction
rolled back, an uncommitted state would otherwise outlive it. Anything else the transaction
reads was committed by an earlier one; a state read under a key whose version or change time
has since moved is simply never asked for again, and the oldest entries give way when the
cache is full.
"""

import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Engine, String, select, type_coerce
from sqlalchemy.orm import Session

from services.coordinator.book.models import BookListing, BookOffer

__all__ = ["DEFAULT_CAPACITY", "ListingSnapshot", "SnapshotCache", "mark_written", "open_snapshots"]

DEFAULT_CAPACITY = 50_000  # listings kept per database (~60 MB): a province's busy partitions
_WRITTEN = "sifang.book_written"  # session.info: (root transaction, ids written in it)
_READ_CHUNK = 500  # ids per IN (…) when reading whole listings


@dataclass(frozen=True, slots=True)
class ListingSnapshot:
    """A need or offer of the book as one committed version left it (read-only)."""

    id: str
    organisation_id: str
    kind: str
    category: str
    title: str
    description: str
    quantity: Decimal
    unit: str
    region: str
    window_start: date | None
    window_end: date | None
    attributes: dict[str, Any]
    status: str
    version: int
    published_at: datetime
    updated_at: datetime
    service_area: tuple[str, ...] = ()  # offers only


def snapshot_of(row: BookListing) -> ListingSnapshot:
    return ListingSnapshot(
        id=row.id,
        organisation_id=row.organisation_id,
        kind=row.kind,
        category=row.category,
        title=row.title,
        description=row.description,
        quantity=row.quantity,
        unit=row.unit,
        region=row.region,
        window_start=row.window_start,
        window_end=row.window_end,
        attributes=row.attributes,
        status=row.status,
        version=row.version,
        published_at=row.published_at,
        updated_at=row.updated_at,
        service_area=tuple(row.service_area) if isinstance(row, BookOffer) else (),
    )


Key = tuple[str, str, int, Any]  # table, id, version, the change time as the database returns it


class SnapshotCache:
    """Listing states by key, the least recently used first out beyond ``capacity``."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[Key, ListingSnapshot] = OrderedDict()
        self._lock = threading.Lock()  # the consumer and a rebuild may solve at once
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> ListingSnapshot | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: Key, snapshot: ListingSnapshot) -> None:
        with self._lock:
            self._entries[key] = snapshot
            self._entries.move_to_end(key)
            while self._entries and len(self._entries) > self.capacity:
                self._entries.popitem(last=False)


_caches: "weakref.WeakKeyDictionary[Engine, SnapshotCache]" = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_of(session: Session, capacity: int = DEFAULT_CAPACITY) -> SnapshotCache:
    """The cache of the database ``session`` works on (one per engine; ``capacity`` is its size
    when this makes it, and its new size if that changed)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    with _caches_lock:
        cache = _caches.get(engine)
        if cache is None:
            cache = _caches[engine] = SnapshotCache(capacity)
        cache.capacity = capacity
        return cache


def _written(session: Session) -> set[str]:
    """The ids of listings written in the session's current transaction."""
    root = session.get_transaction()
    noted = session.info.get(_WRITTEN)
    if noted is None or noted[0] is not root:
        noted = session.info[_WRITTEN] = (root, set())
    written: set[str] = noted[1]
    return written


def mark_written(session: Session, listing_id: str) -> None:
    """Note that the current transaction changed ``listing_id``: its state is not yet committed."""
    _written(session).add(listing_id)


def open_snapshots(
    session: Session, kept: int, model: type[BookListing], *where: ColumnElement[bool]
) -> list[ListingSnapshot]:
    """The listings of ``model`` that match ``where``, by id, as their current state; at most
    ``kept`` listings are kept in memory for the next call (0: none)."""
    stamp = type_coerce(model.updated_at, String).label("changed")  # the stored text on SQLite: no parsing
    keys = session.execute(select(model.id, model.version, stamp).where(*where).order_by(model.id)).all()
    cache = cache_of(session, kept)
    written = _written(session)
    table = model.__tablename__
    found: dict[str, ListingSnapshot] = {}
    missing: dict[str, Key] = {}
    for listing_id, version, changed in keys:
        key: Key = (table, listing_id, version, changed)
        snapshot = None if listing_id in written else cache.get(key)
        if snapshot is None:
            missing[listing_id] = key
        else:
            found[listing_id] = snapshot
    ids: Sequence[str] = list(missing)
    for start in range(0, len(ids), _READ_CHUNK):
        # the same conditions again: on PostgreSQL another transaction may have committed since
        # the keys were read, and a listing that no longer matches is not returned
        chunk = model.id.in_(ids[start : start + _READ_CHUNK])
        for row, changed in session.execute(select(model, stamp).where(*where, chunk)).all():
            snapshot = snapshot_of(row)
            found[row.id] = snapshot
            if row.id not in written and missing[row.id] == (table, row.id, row.version, changed):
                cache.put(missing[row.id], snapshot)
    return [found[listing_id] for listing_id, _, _ in keys if listing_id in found]
