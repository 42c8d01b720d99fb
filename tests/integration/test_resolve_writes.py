"""The rows a re-solve writes in bulk (``shared.db.rows_in_bulk``) and the match indexes a
re-solve reads by."""

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import sessionmaker

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


@pytest.fixture
def engine(service_database: Callable[[str], str]) -> Engine:
    return make_engine(service_database("coordinator"))


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
