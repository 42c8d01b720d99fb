"""Persistence: the declarative base, engines, and the unit of work that owns a transaction.

SQLite admits one writer at a time, and a writer that finds the lock taken sleeps in SQLite's
busy handler (up to 100 ms a nap) instead of being woken when it is free: with a dozen request
threads that turns into seconds of waiting. So each process lets one of its connections to a
SQLite file write at a time: the first INSERT, UPDATE or DELETE of a transaction waits for the
file's :class:`WriteGate` (a lock that wakes the next waiter at once) and opens the transaction
with ``BEGIN IMMEDIATE``; commit or rollback opens the gate again. Reads take no gate, and other
processes still meet SQLite's own lock and busy timeout. PostgreSQL is left alone.
"""

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import JSON, DateTime, Engine, MetaData, Table, create_engine, event, insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Base",
    "UnitOfWork",
    "UtcDateTime",
    "WriteGate",
    "add_row",
    "append_row",
    "kept",
    "make_engine",
    "metadata_of",
    "rows_in_bulk",
    "transaction_set",
    "utcnow",
]

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT = 30.0  # seconds a writer waits for the gate or SQLite's lock before failing


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """One declarative base; each service's database holds the subset of tables it owns."""

    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[str]: JSON}  # noqa: RUF012


def metadata_of(tables: Iterable[Table]) -> MetaData:
    """A MetaData holding just ``tables``: one service's schema."""
    selected = MetaData(naming_convention=_NAMING)
    for table in tables:
        table.to_metadata(selected)
    return selected


class WriteGate:
    """The one write transaction at a time on a SQLite file, within this process."""

    _gates: dict[str, "WriteGate"] = {}  # noqa: RUF012 (one gate per file, shared by engines)
    _gates_lock = threading.Lock()

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()

    @classmethod
    def of(cls, path: str, timeout: float = SQLITE_BUSY_TIMEOUT) -> "WriteGate":
        key = str(Path(path).resolve())
        with cls._gates_lock:
            return cls._gates.setdefault(key, cls(timeout))

    def enter(self) -> None:
        if not self._lock.acquire(timeout=self.timeout):
            raise sqlite3.OperationalError("database is locked (waited for this process's writer)")

    def leave(self) -> None:
        self._lock.release()


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def _gated_connection_class(gate: WriteGate) -> type[sqlite3.Connection]:
    """A sqlite3 connection that holds ``gate`` from its first write to its commit or rollback."""

    class GatedCursor(sqlite3.Cursor):
        def _before(self, statement: str) -> None:
            connection = self.connection
            assert isinstance(connection, GatedConnection)
            if not connection.holds_gate and statement.lstrip()[:7].upper().startswith(_WRITES):
                gate.enter()
                connection.holds_gate = True

        def execute(self, sql: str, parameters: Any = (), /) -> "GatedCursor":
            self._before(sql)
            return super().execute(sql, parameters)

        def executemany(self, sql: str, parameters: Any, /) -> "GatedCursor":
            self._before(sql)
            return super().executemany(sql, parameters)

    class GatedConnection(sqlite3.Connection):
        holds_gate = False

        def cursor(self, factory: Any = GatedCursor) -> Any:
            return super().cursor(factory)

        def _open_gate(self) -> None:
            if self.holds_gate and not self.in_transaction:
                self.holds_gate = False
                gate.leave()

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self._open_gate()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self._open_gate()

        def close(self) -> None:
            try:
                super().close()
            finally:
                if self.holds_gate:
                    self.holds_gate = False
                    gate.leave()

    return GatedConnection


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys, a busy timeout and one writer at a
    time per process (see the module's docstring)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    connect_args: dict[str, Any] = {"timeout": SQLITE_BUSY_TIMEOUT}
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # sqlite3 opens the transaction itself before the first write: make it BEGIN IMMEDIATE.
        connect_args |= {
            "factory": _gated_connection_class(WriteGate.of(parsed.database)),
            "isolation_level": "IMMEDIATE",
        }
    engine = create_engine(url, connect_args=connect_args)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


class UnitOfWork:
    """One database transaction. Leaving the block without ``commit()`` rolls it back.

    ``after_commit`` callbacks run once the transaction is durable; the outbox relay uses
    one to learn that there is something new to publish.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._after_commit = after_commit
        self.session: Session

    def __enter__(self) -> Self:
        self.session = self._session_factory()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.session.rollback()
        self.session.close()

    def commit(self) -> None:
        self.session.commit()
        if self._after_commit is not None:
            self._after_commit()


_KEPT = "sifang.kept"  # session.info: objects held for the session's life (see ``kept``)


def kept(session: Session, instance: T) -> T:
    """``instance``, held by the session for as long as the session lives.

    The session's identity map holds its objects weakly: one that nothing else refers to is
    dropped at once, and the next ``session.get`` of it reads it again with a SELECT (and a
    flush before it). For the few rows a batch of events looks up again and again — the
    publishing organisation, a market cell — holding them makes every look-up after the first
    free. The session drops them when it is closed; after a commit they are expired as usual.
    """
    if instance is not None:
        session.info.setdefault(_KEPT, {})[id(instance)] = instance
    return instance


def transaction_set(session: Session, name: str) -> set[Any]:
    """A set kept in ``session.info`` under ``name`` for the session's current transaction: what
    the transaction has learned (rows read ahead and found missing, partitions marked dirty),
    forgotten when the next transaction begins, so a rollback takes it along."""
    transaction = session.get_transaction()
    known: tuple[object, set[Any]] | None = session.info.get(name)
    if known is None or known[0] is not transaction:
        known = (transaction, set())
        session.info[name] = known
    return known[1]


# session.info: (the transaction, {table: rows}) that ``append_row`` keeps until its commit
_APPENDED = "sifang.appended_rows"


def append_row(session: Session, model: type[DeclarativeBase], **values: Any) -> None:
    """Add a new row to a table that the transaction only appends to and never reads back
    (the event log, a consumer's inbox): written with the others of its table in one INSERT
    just before the transaction commits, and never if it rolls back.

    Such rows then take no part in the flushes before each query of the transaction (each a
    round of the ORM's bookkeeping): a batch of events writes its log and inbox rows at once.
    """
    transaction = session.get_transaction()
    if transaction is None or session.get_nested_transaction() is not None:
        session.add(model(**values))  # no transaction to keep them for, or a savepoint's own
        return
    kept: tuple[object, dict[type[DeclarativeBase], list[dict[str, Any]]]] | None = session.info.get(
        _APPENDED
    )
    if kept is None or kept[0] is not transaction:
        kept = (transaction, {})
        session.info[_APPENDED] = kept
    kept[1].setdefault(model, []).append(values)


@event.listens_for(Session, "before_commit")
def _write_appended(session: Session) -> None:
    kept = session.info.pop(_APPENDED, None)
    if kept is None:
        return
    if kept[0] is not session.get_transaction() or session.get_nested_transaction() is not None:
        session.info[_APPENDED] = kept  # a savepoint commits: the rows wait for their transaction
        return
    for model, rows in kept[1].items():  # NULLs as values: rows with and without one go together
        session.execute(insert(model).execution_options(render_nulls=True), rows)


_BULK_ROWS = "sifang.bulk_rows"  # session.info: the rows ``add_row`` keeps for ``rows_in_bulk``


def add_row(session: Session, model: type[Base], **values: Any) -> None:
    """Add a new row of ``model`` to the session's transaction: as an object at once, or, inside
    :func:`rows_in_bulk`, as values written with the others of its table when the block ends."""
    kept: dict[type[Base], list[dict[str, Any]]] | None = session.info.get(_BULK_ROWS)
    if kept is None:
        session.add(model(**values))
    else:
        kept.setdefault(model, []).append(values)


@contextmanager
def rows_in_bulk(session: Session) -> Iterator[None]:
    """Write the rows :func:`add_row` adds inside the block with one INSERT per table as it ends,
    without the ORM's bookkeeping per object (for the hundreds of events one re-solve publishes).

    What the session held before is flushed first and the rows of a table are written in the
    order they were added, so an outbox keeps the order of its events. Nothing inside may read
    those tables back before the block ends. Leaving by an exception writes nothing: the
    transaction it is in is being rolled back. Nested blocks write with the outermost.
    """
    if _BULK_ROWS in session.info:
        yield
        return
    session.flush()
    kept: dict[type[Base], list[dict[str, Any]]] = {}
    session.info[_BULK_ROWS] = kept
    try:
        yield
    finally:
        session.info.pop(_BULK_ROWS, None)
        for model, rows in kept.items():
            session.execute(insert(model), rows)
