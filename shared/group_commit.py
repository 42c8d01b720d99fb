"""Group commit: the writes of many requests in one transaction, made by one writer thread.

A request that publishes a need used to take a worker thread, a session and a pooled connection
of its own, wait for the process's one SQLite writer, INSERT two rows and commit (an fsync), and
hand its thread back; under load most of a stakeholder service's CPU went to that per-request
machinery, not to the rows. With :class:`GroupCommit` the request awaits its write instead: a
writer thread takes every write waiting at that moment (up to ``max_batch``), runs each in one
session and commits them together, once, then answers them all.

Each write is answered only once the transaction holding it is committed, so a request that
got its answer was made durable exactly as before. A write that raises is answered with its
error and changes nothing: the transaction is rolled back and the other writes of the batch run
again without it. When the commit fails on a row (a constraint, a value the database or a
column type refuses), each write of the batch is tried alone so that one bad row cannot fail
the others. When the database itself fails (locked past its timeout, down, the connection
lost), every write of the batch is answered :class:`~shared.errors.Unavailable` (503 with
``Retry-After``) at once, rather than trying a dead database once per write. A write function
may therefore run more than once; it must only touch the session it is given. Writes run in
the context (context variables: the trace, the log fields) of the request that queued them.

Only the writes handed to :meth:`GroupCommit.write` are grouped (the stakeholder services'
``POST /needs`` and ``POST /offers``); every other write has a unit of work of its own.
"""

import asyncio
import contextvars
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from shared.errors import Unavailable

__all__ = ["GroupCommit"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Write:
    work: Callable[[Session], Any]
    context: contextvars.Context
    future: "asyncio.Future[Any]"
    loop: asyncio.AbstractEventLoop


class _WorkFailed(Exception):
    """A write of the batch raised: it is answered with its error, the others run again."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(index)
        self.index = index
        self.error = error


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` is the database's state (locked, down, connection lost), not a row's."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, OperationalError | InterfaceError)


def _answer(future: "asyncio.Future[Any]", result: Any, error: BaseException | None) -> None:
    if future.done():  # the request was cancelled; its write stands (it was committed) or not
        return
    if error is None:
        future.set_result(result)
        return
    try:
        future.set_exception(error)
    except TypeError:  # StopIteration cannot travel through a future
        future.set_exception(RuntimeError(f"the write raised {error!r}"))


def _answer_all(answers: list[tuple["asyncio.Future[Any]", Any]]) -> None:
    for future, result in answers:
        _answer(future, result, None)


def _in_loop(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    """Run ``callback`` in ``loop``; a loop that has closed (its app stopped) has no one waiting."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        log.warning("group commit: the event loop of a write has closed; its answer is dropped")


def _fail(write: _Write, error: BaseException) -> None:
    _in_loop(write.loop, _answer, write.future, None, error)


def _unavailable(batch: list[_Write], cause: BaseException) -> None:
    """Answer every write of ``batch``: the database failed, not the write (each its own error)."""
    log.warning("group commit: the database failed a batch of %d writes (%s)", len(batch), cause)
    detached = cause.with_traceback(None)  # no frames (and their batch) kept alive by the answers
    for write in batch:
        error = Unavailable("the database is unavailable; nothing was changed, try again", retry_after=5)
        error.__cause__ = detached
        _fail(write, error)


class GroupCommit:
    """The writer thread of one database (see the module's docstring). Stopping it finishes
    what was queued; a write after that starts a new thread (an app started again in tests)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        after_commit: Callable[[], None] | None = None,
        max_batch: int = 64,
        name: str = "group-commit",
    ) -> None:
        self._session_factory = session_factory
        self._after_commit = after_commit
        self._max_batch = max_batch
        self._name = name
        self._lock = threading.Lock()  # the thread and its queue change together, under it
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.transactions = 0  # transactions committed
        self.writes = 0  # writes committed

    async def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in the next group transaction; returns its result once committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        item = _Write(work, contextvars.copy_context(), future, loop)
        with self._lock:  # a write never lands behind a stop, in a queue no thread reads
            if self._thread is None:
                self._queue = queue.SimpleQueue()
                self._thread = self._started(self._queue)
            elif not self._thread.is_alive():  # it cannot die, but if it did: its queue is served
                log.error("group commit: the writer thread had stopped; starting another")
                self._thread = self._started(self._queue)
            self._queue.put(item)
        return await future

    def stop(self) -> None:
        """Finish the writes queued so far and stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._queue.put(None)
        thread.join()

    def _started(self, writes: "queue.SimpleQueue[_Write | None]") -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(writes,), name=self._name, daemon=True)
        thread.start()
        return thread

    def _run(self, writes: "queue.SimpleQueue[_Write | None]") -> None:
        while True:
            first = writes.get()
            if first is None:
                return
            batch = [first]
            stopping = False
            while len(batch) < self._max_batch:
                try:
                    following = writes.get_nowait()
                except queue.Empty:
                    break
                if following is None:
                    stopping = True
                    break
                batch.append(following)
            try:
                self._commit(batch)
            except BaseException as exc:  # never leave a request waiting, nor the writer dead
                log.exception("group commit: a batch of %d writes failed", len(batch))
                for write in batch:
                    _fail(write, RuntimeError(f"the write was not made: {exc!r}"))
            if stopping:
                return

    def _commit(self, batch: list[_Write]) -> None:
        """Commit ``batch`` in one transaction, leaving out writes that raise; when the commit
        fails on a row, commit each write alone; when the database fails, answer them all."""
        while batch:
            try:
                results = self._transaction(batch)
            except _WorkFailed as failed:
                _fail(batch.pop(failed.index), failed.error)
                continue
            except Exception as exc:
                if database_unavailable(exc):
                    _unavailable(batch, exc)
                elif len(batch) == 1:
                    _fail(batch[0], exc)
                else:
                    log.warning("group commit: a batch of %d failed (%s); one at a time", len(batch), exc)
                    for write in batch:
                        self._commit([write])
                return
            self.transactions += 1
            self.writes += len(batch)
            if self._after_commit is not None:
                try:
                    self._after_commit()
                except Exception:  # the writes are committed: they are answered as such
                    log.exception("group commit: the after-commit callback failed")
            loops: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
            for write, result in zip(batch, results, strict=True):
                loops.setdefault(write.loop, []).append((write.future, result))
            for loop, answers in loops.items():  # one wake-up of each waiting loop per batch
                _in_loop(loop, _answer_all, answers)
            return

    def _transaction(self, batch: list[_Write]) -> list[Any]:
        with self._session_factory() as session:
            results = []
            for index, write in enumerate(batch):
                try:
                    results.append(write.context.run(write.work, session))
                except Exception as exc:
                    if database_unavailable(exc):  # the database's failure, not this write's
                        raise
                    raise _WorkFailed(index, exc) from exc
            session.commit()
            return results
