"""One writer at a time per SQLite file within a process (shared/db.py's WriteGate)."""

import threading
from pathlib import Path

from shared.db import WriteGate, make_engine


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
