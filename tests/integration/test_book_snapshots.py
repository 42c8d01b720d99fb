"""The open book kept decoded between re-solves (``book/snapshots.py``), the rows a re-solve
writes in bulk (``shared.db.rows_in_bulk``), and the match indexes a re-solve reads by."""

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from services.coordinator.book import snapshots
from services.coordinator.book.models import BookNeed
from services.coordinator.book.service import upsert_listing
from services.coordinator.book.snapshots import SnapshotCache, cache_of, open_snapshots
from services.coordinator.journal.models import EventLogEntry
from services.coordinator.journal.service import log_event
from services.migrate import upgrade
from shared.db import make_engine, rows_in_bulk
from shared.events.catalogue import CATALOGUE
from shared.events.data import NeedData
from shared.events.envelope import CloudEvent
from shared.messaging.models import OutboxMessage
from shared.messaging.outbox import record_event

AT = datetime(2027, 1, 5, 8, 0, tzinfo=UTC)


def _need(version: int, quantity: int, *, need_id: str = "need-1") -> NeedData:
    return NeedData(
        need_id=need_id,
        organisation_id="village",
        category="training.livestream",
        title=f"直播培训 v{version}",
        description="",
        quantity=Decimal(quantity),
        unit="人",
        region="610124104201",
        attributes={},
        version=version,
    )


def _apply(session: Session, data: NeedData, at: datetime = AT) -> None:
    upsert_listing(session, data, publisher="village", publisher_kind="community", at=at)


def _open_needs(session: Session) -> dict[str, Decimal]:
    return {s.id: s.quantity for s in open_snapshots(session, 100, BookNeed, BookNeed.status == "open")}


@pytest.fixture
def engine(service_database: Callable[[str], str]) -> Engine:
    return make_engine(service_database("coordinator"))


def test_a_listing_is_read_whole_once_and_then_from_memory_until_its_version_moves(engine: Engine) -> None:
    sessions = sessionmaker(engine)
    with sessions() as session:
        _apply(session, _need(1, 10))
        session.commit()
    with sessions() as session:
        cache = cache_of(session)
        assert _open_needs(session) == {"need-1": Decimal(10)}
        assert (cache.hits, cache.misses, len(cache)) == (0, 1, 1)
        assert _open_needs(session) == {"need-1": Decimal(10)}
        assert cache.hits == 1
    with sessions() as session:
        _apply(session, _need(2, 12), at=AT.replace(hour=9))
        session.commit()
    with sessions() as session:
        assert _open_needs(session) == {"need-1": Decimal(12)}  # a new version: a new key
        session.execute(text("UPDATE book_needs SET status = 'withdrawn'"))
        assert _open_needs(session) == {}  # which listings are open is always the database's word


def test_a_state_written_in_a_transaction_that_rolls_back_is_never_kept(engine: Engine) -> None:
    """A version read in the transaction that wrote it and then rolled back must not stand in
    for what a later transaction commits under the same version and time (a hostile copy or a
    replay of another history): only committed states are kept."""
    sessions = sessionmaker(engine)
    with sessions() as session:
        _apply(session, _need(1, 10))
        session.commit()
    with sessions() as session:
        _apply(session, _need(2, 99), at=AT.replace(hour=9))
        assert _open_needs(session) == {"need-1": Decimal(99)}  # its own write, read whole
        session.rollback()
    with sessions() as session:
        assert _open_needs(session) == {"need-1": Decimal(10)}
        _apply(session, _need(2, 15), at=AT.replace(hour=9))
        session.commit()
    with sessions() as session:
        assert _open_needs(session) == {"need-1": Decimal(15)}


def test_each_database_has_its_own_cache(service_database: Callable[[str], str]) -> None:
    """Two databases may hold the same id and version with other content (tests, replays)."""
    found = []
    for quantity in (10, 20):
        sessions = sessionmaker(make_engine(service_database("coordinator")))
        with sessions() as session:
            _apply(session, _need(1, quantity))
            session.commit()
        with sessions() as session:
            found.append(_open_needs(session))
    assert found == [{"need-1": Decimal(10)}, {"need-1": Decimal(20)}]


def test_the_least_recently_used_state_makes_way_when_the_cache_is_full() -> None:
    cache = SnapshotCache(capacity=2)
    one, two, three = (("book_needs", f"n{i}", 1, "t") for i in (1, 2, 3))
    snapshot = object()
    cache.put(one, snapshot)  # type: ignore[arg-type]
    cache.put(two, snapshot)  # type: ignore[arg-type]
    assert cache.get(one) is snapshot  # one is now the most recent
    cache.put(three, snapshot)  # type: ignore[arg-type]
    assert (cache.get(two), cache.get(one), cache.get(three), len(cache)) == (None, snapshot, snapshot, 2)


def _event(number: int) -> tuple[str, CloudEvent]:
    subject, envelope = CATALOGUE["sifang.need.published.v1"].build(
        kind="community",
        organisation_id="village",
        region="610124104201",
        data=_need(1, 10, need_id=f"n{number}"),
    )
    return subject, envelope


def test_rows_added_in_bulk_are_written_when_the_block_ends_in_the_order_they_were_added(
    engine: Engine,
) -> None:
    sessions = sessionmaker(engine)
    with sessions() as session:
        before_subject, before = _event(0)
        record_event(session, before_subject, before)  # an object, pending before the block
        with rows_in_bulk(session):
            for number in range(1, 4):
                subject, event = _event(number)
                record_event(session, subject, event)
                log_event(session, event, subject, None)
            with rows_in_bulk(session):  # nested: written with the outer block
                subject, event = _event(4)
                record_event(session, subject, event)
            assert session.scalar(select(OutboxMessage.id).where(OutboxMessage.event_id == event.id)) is None
        session.commit()
    with sessions() as session:
        outbox = [m.payload for m in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
        logged = list(session.scalars(select(EventLogEntry.position).order_by(EventLogEntry.position)))
    assert [f'"need_id":"n{n}"' in payload for n, payload in enumerate(outbox)] == [True] * 5
    assert logged == [1, 2, 3]


def test_a_bulk_block_left_by_an_exception_writes_its_rows_as_a_flush_would(engine: Engine) -> None:
    """A caller that catches the exception and goes on keeps the rows with what was changed
    alongside them (as objects added to the session would have been flushed)."""
    sessions = sessionmaker(engine)
    with sessions() as session:

        def refused() -> None:
            with rows_in_bulk(session):
                subject, event = _event(1)
                record_event(session, subject, event)
                raise RuntimeError("refused")

        with pytest.raises(RuntimeError):
            refused()
        subject, event = _event(2)
        record_event(session, subject, event)  # after the block: an object again
        session.commit()
    with sessions() as session:
        payloads = list(session.scalars(select(OutboxMessage.payload)))
    assert len(payloads) == 2 and '"need_id":"n1"' in payloads[0] and '"need_id":"n2"' in payloads[1]


def test_a_re_solves_reads_of_matches_by_id_and_state_use_the_id_index(tmp_path: Path) -> None:
    """Without statistics SQLite answered ``offer_id IN (…) AND status IN (…)`` from the status
    index, walking every proposal of the book (10 ms a read at 100k open items). (SQLite's plan:
    PostgreSQL plans by its statistics.)"""
    url = f"sqlite:///{tmp_path / 'coordinator.db'}"
    upgrade("coordinator", url)
    with make_engine(url).connect() as connection:
        for column in ("need_id", "offer_id"):
            plan = connection.execute(
                text(
                    f"EXPLAIN QUERY PLAN SELECT status FROM matches WHERE {column} IN ('a', 'b') "
                    "AND status IN ('proposed', 'confirmed')"
                )
            ).all()
            assert any(f"ix_matches_{column.split('_')[0]}_status" in str(row) for row in plan), plan


def test_a_cache_of_no_listings_keeps_nothing_and_reads_the_same(engine: Engine) -> None:
    sessions = sessionmaker(engine)
    with sessions() as session:
        _apply(session, _need(1, 10))
        session.commit()
    with sessions() as session:
        for _ in range(2):
            found = {
                s.id: s.quantity for s in open_snapshots(session, 0, BookNeed, BookNeed.status == "open")
            }
            assert found == {"need-1": Decimal(10)}
        assert len(cache_of(session, 0)) == 0


def test_a_withdrawal_committed_between_the_key_read_and_the_row_read_is_not_taken_for_open(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL (READ COMMITTED) another transaction may commit between the two reads of
    ``open_snapshots``: the rows are read under the same conditions, and kept only as keyed."""
    sessions = sessionmaker(engine)
    with sessions() as session:
        _apply(session, _need(1, 10))
        session.commit()
    real_cache_of = snapshots.cache_of

    def withdrawn_meanwhile(session: Session, capacity: int = 100) -> SnapshotCache:
        with engine.begin() as other:
            other.execute(text("UPDATE book_needs SET status = 'withdrawn'"))
        return real_cache_of(session, capacity)

    monkeypatch.setattr(snapshots, "cache_of", withdrawn_meanwhile)
    with sessions() as session:
        read = open_snapshots(session, 100, BookNeed, BookNeed.status == "open")
    assert read == []  # (SQLite too: a read outside a write transaction is its own snapshot)
