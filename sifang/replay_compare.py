"""Judging a replay: a scratch database of the deployment's kind to rebuild into, and a comparison
of typed values between the live database and the rebuilt one.

Rows are read through SQLAlchemy Core with the coordinator's table metadata, so both sides come
back as the same Python values whatever the backend: JSON as objects, timestamps as aware UTC
datetimes, numerics as Decimals compared by value (``75.0000`` is ``75``), binary as bytes.
Comparing text renderings instead would make a PostgreSQL deployment differ from a SQLite rebuild
in every table, and even from itself.
"""

import shutil
import tempfile
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, Table, create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from services import service_tables
from shared.db import make_engine, metadata_of

__all__ = [
    "COORDINATOR_TABLES",
    "LiveMark",
    "ScratchDatabaseError",
    "compare_databases",
    "coordinator_consumer",
    "live_mark",
    "normalize",
    "scratch_database",
]

# Tables a replay must reproduce, each with the columns that record when (or in which physical
# order) something was stored rather than what. Tables a database does not have are skipped.
COORDINATOR_TABLES: Mapping[str, frozenset[str]] = {
    "registry_organisations": frozenset(),
    "book_needs": frozenset(),
    "book_offers": frozenset(),
    "book_offer_areas": frozenset(),
    "shared_offers": frozenset(),
    "offers_elsewhere": frozenset(),
    "event_log": frozenset({"received_at"}),
    "matches": frozenset(),
    "dirty_partitions": frozenset(),
    "market_cells": frozenset(),
    "ledger_funds": frozenset(),
    "ledger_fund_shares": frozenset(),
    "ledger_fund_allocations": frozenset(),
    "ledger_fund_movements": frozenset(),
    "projects": frozenset(),
    "disputes": frozenset(),
    "mediation_records": frozenset(),
    "held_events": frozenset({"held_at"}),
    "meeting_series": frozenset(),
    "meetings": frozenset(),
    "agenda_versions": frozenset(),
    "invitations": frozenset(),
    "agenda_proposals": frozenset(),
    "decisions": frozenset(),
    "action_items": frozenset(),
    "meeting_records": frozenset(),
    "inbox": frozenset({"applied_at"}),
    "dead_letters": frozenset({"id", "created_at"}),
}


# The key of a table whose primary key is one of its ignored columns (a surrogate id).
NATURAL_KEYS: Mapping[str, tuple[str, ...]] = {"dead_letters": ("consumer", "stream_sequence")}

SHOWN_KEYS = 10


class ScratchDatabaseError(Exception):
    """The server would not create a scratch database (the user lacks CREATEDB, say)."""


def coordinator_consumer(name: str) -> bool:
    """The coordinator's stakeholder consumer (``coordinator`` or ``coordinator-<partition>``), which a
    replay re-runs; not the webhook sender, whose rows a replay does not make."""
    if name.startswith("coordinator-webhooks"):
        return False
    return name == "coordinator" or name.startswith("coordinator-")


@dataclass(frozen=True)
class LiveMark:
    """How far a coordinator's record has got: ``sequence``, the last stream message its consumer
    processed (applied, held, or dead-lettered), and counts that any further processing changes
    (an applied or released event adds an inbox row; a re-drive marks its letter)."""

    sequence: int
    applied: int
    held: int
    dead_letters: int
    redriven: int


def live_mark(url: str) -> LiveMark:
    """The mark of the coordinator database at ``url`` (its consumers' rows, not the webhook
    sender's). Read twice around a comparison, an unchanged mark shows the record stood still."""
    engine = make_engine(url)
    schema = metadata_of(service_tables("coordinator"))
    inbox, held, letters = (schema.tables[name] for name in ("inbox", "held_events", "dead_letters"))
    sequences: list[int] = []
    counts = {"applied": 0, "held": 0, "dead_letters": 0, "redriven": 0}
    try:
        with engine.connect() as connection:
            for consumer, last, count in connection.execute(
                select(inbox.c.consumer, func.max(inbox.c.stream_sequence), func.count()).group_by(
                    inbox.c.consumer
                )
            ):
                if coordinator_consumer(consumer):
                    sequences.append(last)
                    counts["applied"] += count
            for consumer, last, count, redriven in connection.execute(
                select(
                    letters.c.consumer,
                    func.max(letters.c.stream_sequence),
                    func.count(),
                    func.count(letters.c.redriven_at),
                ).group_by(letters.c.consumer)
            ):
                if coordinator_consumer(consumer):
                    sequences.append(last)
                    counts["dead_letters"] += count
                    counts["redriven"] += redriven
            last_held, counts["held"] = connection.execute(
                select(func.max(held.c.stream_sequence), func.count())
            ).one()
            sequences.append(last_held or 0)
    finally:
        engine.dispose()
    return LiveMark(max(sequences, default=0), **counts)


def unrecorded(url: str, events: Collection[tuple[int, str | None]]) -> list[int]:
    """Which of ``events`` (stream sequences and event ids, all past the record's ``live_mark``)
    the coordinator database at ``url`` has no trace of: no inbox row of its consumers holds
    their id (one applied or held, or an earlier copy of it applied). A message past the mark was
    not dead-lettered either: that would have moved the mark."""
    engine = make_engine(url)
    inbox = metadata_of(service_tables("coordinator")).tables["inbox"]
    ids = sorted({event_id for _, event_id in events if event_id is not None})
    seen: set[str] = set()
    try:
        with engine.connect() as connection:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = connection.execute(
                    select(inbox.c.consumer, inbox.c.event_id).where(inbox.c.event_id.in_(chunk))
                )
                seen.update(event_id for consumer, event_id in rows if coordinator_consumer(consumer))
    finally:
        engine.dispose()
    return [sequence for sequence, event_id in events if event_id not in seen]


def normalize(value: Any) -> Any:
    """One Python value per meaning, whichever backend returned it."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, Decimal):
        return value.normalize() if value.is_finite() else value
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, dict):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalize(v) for v in value]
    return value


def _shown(value: Any) -> str:
    """A key part as text: numbers without trailing zeros, timestamps in UTC ISO form."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _row_sort_key(row: tuple[Any, ...]) -> str:
    return repr(row)


def _read(
    engine: Engine,
    table: Table,
    columns: list[str],
    keys: list[str],
    consumers: Callable[[str], bool] | None,
) -> dict[tuple[str, ...], list[tuple[Any, ...]]]:
    """The table's rows grouped by key, each row as normalized values of ``columns``."""
    wanted = [table.c[name] for name in columns]
    filtered = consumers is not None and "consumer" in table.c and "consumer" in columns
    rows: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for row in connection.execute(select(*wanted)):
            values = dict(zip(columns, (normalize(v) for v in row), strict=True))
            if filtered and consumers is not None and not consumers(str(values["consumer"])):
                continue
            key = tuple(_shown(values[k]) for k in keys)
            rows.setdefault(key, []).append(tuple(values[c] for c in columns))
    for group in rows.values():
        group.sort(key=_row_sort_key)
    return rows


def _key_columns(table: Table, ignored: Collection[str], columns: list[str]) -> list[str]:
    primary = [c.name for c in table.primary_key.columns if c.name not in ignored]
    if primary:
        return primary
    natural = [c for c in NATURAL_KEYS.get(table.name, ()) if c in columns]
    return natural or columns


def compare_databases(
    live_url: str,
    rebuilt_url: str,
    tables: Mapping[str, Collection[str]],
    *,
    metadata: MetaData | None = None,
    consumers: Callable[[str], bool] | None = coordinator_consumer,
) -> dict[str, Any]:
    """Per table of ``tables`` (name → ignored columns): its rows, whether live and rebuilt hold
    the same typed values, and the keys of the rows that differ (the first ten, and how many).

    ``metadata`` gives the column types (the coordinator's by default). In tables shared by
    several consumers (``inbox``, ``dead_letters``) only the rows of ``consumers`` are compared.
    A table neither database has is left out; one only a side has differs, and says so.
    """
    schema = metadata if metadata is not None else metadata_of(service_tables("coordinator"))
    engines = [make_engine(live_url), make_engine(rebuilt_url)]
    report: dict[str, Any] = {}
    try:
        present = [set(inspect(engine).get_table_names()) for engine in engines]
        for name, ignored in tables.items():
            table = schema.tables.get(name)
            where = [side for side, names in zip(("live", "rebuilt"), present, strict=True) if name in names]
            if table is None or not where:
                continue
            if len(where) == 1:
                report[name] = {
                    "rows": None,
                    "identical": False,
                    "differing": [],
                    "differing_count": 0,
                    "problem": f"only the {where[0]} database has this table",
                }
                continue
            live_columns, rebuilt_columns = (
                {c["name"] for c in inspect(e).get_columns(name)} for e in engines
            )
            wanted = [c.name for c in table.columns if c.name not in ignored]
            columns = [c for c in wanted if c in live_columns and c in rebuilt_columns]
            unmatched = sorted(set(wanted) & (live_columns ^ rebuilt_columns))
            keys = _key_columns(table, ignored, columns)
            live, rebuilt = (_read(engine, table, columns, keys, consumers) for engine in engines)
            differing = sorted(k for k in live.keys() | rebuilt.keys() if live.get(k) != rebuilt.get(k))
            report[name] = {
                "rows": sum(map(len, live.values())),
                "identical": not differing and not unmatched,
                "differing": differing[:SHOWN_KEYS],
                "differing_count": len(differing),
            }
            if unmatched:
                report[name]["problem"] = f"columns only one database has: {', '.join(unmatched)}"
    finally:
        for engine in engines:
            engine.dispose()
    return report


@contextmanager
def scratch_database(like_url: str, *, keep: bool = False) -> Iterator[str]:
    """An empty database of the same kind as ``like_url``, dropped on leaving unless ``keep``.

    PostgreSQL: a new database ``sifang_replay_<hex>`` on the same server, as the same user (who
    needs CREATEDB). SQLite: a file in a new temporary directory.
    """
    url = make_url(like_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="sifang-replay-"))
        try:
            yield url.set(database=str(directory / "coordinator.db")).render_as_string(hide_password=False)
        finally:
            if not keep:
                shutil.rmtree(directory, ignore_errors=True)
        return
    if backend != "postgresql":
        raise ValueError(f"cannot make a scratch database for {backend!r}: only SQLite and PostgreSQL")
    name = f"sifang_replay_{uuid.uuid4().hex[:16]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        except DBAPIError as exc:
            server = url.set(database=None).render_as_string(hide_password=True)
            raise ScratchDatabaseError(f"cannot create a database on {server}: {exc.orig}") from exc
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            if not keep:
                with admin.connect() as connection:
                    # FORCE: a pool somewhere may still hold a connection to it.
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
