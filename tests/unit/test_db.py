"""shared/db.py: one writer at a time per SQLite file within a process (WriteGate); rows a
transaction only appends, written at its commit (append_row); objects held for a session (kept)."""

import threading
from pathlib import Path

from sqlalchemy import event, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from shared.db import WriteGate, append_row, kept, make_engine, transaction_set


def test_a_write_transaction_holds_the_gate_from_its_first_write_to_commit_or_rollback(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gate.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    gate = WriteGate.of(str(path))
    for end in ("commit", "rollback"):
        with engine.connect() as writer:
            assert writer.exec_driver_sql("SELECT count(*) FROM t").scalar() is not None  # reads: no gate
            assert gate._lock.acquire(blocking=False)
            gate.leave()
            writer.exec_driver_sql("INSERT INTO t VALUES (1)")
            assert not gate._lock.acquire(blocking=False)  # held by the writer
            getattr(writer, end)()
        assert gate._lock.acquire(blocking=False)  # open again
        gate.leave()
    engine.dispose()


def test_concurrent_writers_take_turns_without_locking_errors(tmp_path: Path) -> None:
    path = tmp_path / "turns.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for i in range(50):
                with engine.begin() as connection:
                    connection.exec_driver_sql(f"INSERT INTO t VALUES ({worker * 100 + i})")
                    connection.exec_driver_sql("SELECT count(*) FROM t").scalar()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 400
    engine.dispose()


class _TestBase(DeclarativeBase):
    """A base of its own: the services' metadata does not get the test's table."""


class _Row(_TestBase):
    __tablename__ = "appended_rows_test"
    id: Mapped[int] = mapped_column(primary_key=True)
    note: Mapped[str | None]


def test_appended_rows_are_written_at_the_commit_in_one_insert_and_never_after_a_rollback(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'appended.db'}")
    _Row.__table__.create(engine)
    inserts: list[tuple[str, bool]] = []
    event.listen(
        engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, _p, _ctx, many: (
            inserts.append((statement, many)) if statement.startswith("INSERT") else None
        ),
    )
    with Session(engine) as session:
        session.execute(select(func.count()).select_from(_Row))  # a transaction is open
        append_row(session, _Row, id=1, note="a")
        append_row(session, _Row, id=2, note=None)  # a NULL does not split the INSERT
        assert session.scalar(select(func.count()).select_from(_Row)) == 0  # not before the commit
        session.commit()
        assert len(inserts) == 1 and inserts[0][1]  # one executemany
        session.execute(select(func.count()).select_from(_Row))
        append_row(session, _Row, id=3, note="rolled back")
        session.rollback()
        session.execute(select(func.count()).select_from(_Row))
        append_row(session, _Row, id=4, note="kept")
        session.commit()  # writes only its own transaction's rows
        assert session.scalars(select(_Row.id).order_by(_Row.id)).all() == [1, 2, 4]
    engine.dispose()


def test_a_kept_object_is_found_again_without_a_query(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'kept.db'}")
    _Row.__table__.create(engine)
    with Session(engine) as session:
        session.add(_Row(id=1, note="x"))
        session.commit()
    selects: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, s, *_: selects.append(s))
    with Session(engine) as session:
        session.get(_Row, 1)  # nothing holds it: dropped from the identity map at once
        session.get(_Row, 1)
        assert len(selects) == 2
        kept(session, session.get(_Row, 1))
        session.get(_Row, 1)
        assert len(selects) == 3
    engine.dispose()


def test_what_a_transaction_learned_is_forgotten_when_the_next_one_begins(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'learned.db'}")
    _Row.__table__.create(engine)
    with Session(engine) as session:
        for end in (session.commit, session.rollback):
            session.execute(select(func.count()).select_from(_Row))
            transaction_set(session, "test.learned").add("seen")
            assert transaction_set(session, "test.learned") == {"seen"}  # the same set within it
            end()
            session.execute(select(func.count()).select_from(_Row))
            assert transaction_set(session, "test.learned") == set()
    engine.dispose()
