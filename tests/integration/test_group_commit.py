"""Group commit (shared/group_commit.py) on a real database, each backend: writes that wait
together share one transaction, each is answered only once committed, and a write that fails
(in its own code or at the commit) fails alone."""

import asyncio
import contextvars
import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from shared.db import UnitOfWork, make_engine
from shared.errors import Unavailable
from shared.group_commit import GroupCommit
from shared.messaging.models import OutboxMessage
from shared.stakeholder.models import Need, Organisation
from shared.stakeholder.schemas import NeedCreate, OrganisationCreate
from shared.stakeholder.service import NEEDS, add_listing, register_organisation
from tests.integration.stakeholders import writes_held

NEED = NeedCreate.model_validate(
    {"category": "training.livestream", "title": "直播带货培训", "quantity": 30, "unit": "人"}
)
VILLAGE = OrganisationCreate.model_validate({"name": "秦岭村委会", "region": "610124104201"})


@pytest.fixture
def database(
    service_database: Callable[[str], str],
) -> Iterator[tuple[str, sessionmaker[Session], Organisation]]:
    """A migrated community database, a session factory on it and a registered village."""
    url = service_database("community")
    engine = make_engine(url)
    factory = sessionmaker(engine, expire_on_commit=False)
    with UnitOfWork(factory) as uow:
        org, _ = register_organisation(uow, "community", VILLAGE)
    yield url, factory, org
    engine.dispose()


def publish(org: Organisation, title: str = "直播带货培训") -> Callable[[Session], Need]:
    command = NEED.model_copy(update={"title": title})
    return lambda session: add_listing(session, org, NEEDS, command)


def titles(url: str) -> list[str]:
    engine: Engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return sorted(connection.scalars(select(Need.title)))
    finally:
        engine.dispose()


async def held_then_released(url: str, writes: list[asyncio.Task[Need]]) -> None:
    """Lets the writes queue behind a busy database for a moment, then frees it."""
    with writes_held(url):
        await asyncio.sleep(0.5)
        assert not any(w.done() for w in writes)  # none is answered before its commit


def test_writes_that_wait_together_share_one_commit_and_are_answered_after_it(
    database: tuple[str, sessionmaker[Session], Organisation],
) -> None:
    url, factory, org = database
    commits: list[int] = []
    writer = GroupCommit(factory, after_commit=lambda: commits.append(writer.writes))

    async def scenario() -> list[Need]:
        writes = [asyncio.create_task(writer.write(publish(org, f"第{i}期"))) for i in range(20)]
        await held_then_released(url, writes)
        return await asyncio.gather(*writes)

    needs = asyncio.run(scenario())
    writer.stop()
    assert [n.title for n in needs] == [f"第{i}期" for i in range(20)]  # each got its own row
    assert titles(url) == sorted(f"第{i}期" for i in range(20))
    # The first transaction took what had arrived when the writer woke (held by the busy
    # database); everything that queued behind it went in with the next one.
    assert writer.writes == 20
    assert writer.transactions <= 2
    assert len(commits) == writer.transactions  # the relay is woken once per commit
    engine = create_engine(url)
    with engine.connect() as connection:  # each need with its event, in the order of the needs
        events = list(connection.scalars(select(OutboxMessage.payload).order_by(OutboxMessage.id)))
    engine.dispose()
    assert [n.id in event for n, event in zip(needs, events[1:], strict=True)] == [True] * 20


def test_a_write_that_raises_gets_its_error_leaves_nothing_and_the_others_commit(
    database: tuple[str, sessionmaker[Session], Organisation],
) -> None:
    url, factory, org = database
    writer = GroupCommit(factory)

    def half_done_then_fails(session: Session) -> Need:
        add_listing(session, org, NEEDS, NEED.model_copy(update={"title": "半途而废"}))
        session.flush()  # its row is in the transaction when it fails
        raise ValueError("the organisation's quota is used up")

    async def scenario() -> list[Need | BaseException]:
        writes = [
            asyncio.create_task(writer.write(publish(org, "第一期"))),
            asyncio.create_task(writer.write(half_done_then_fails)),
            asyncio.create_task(writer.write(publish(org, "第二期"))),
        ]
        await held_then_released(url, writes)
        return await asyncio.gather(*writes, return_exceptions=True)

    first, failed, second = asyncio.run(scenario())
    writer.stop()
    assert isinstance(failed, ValueError) and "quota" in str(failed)
    assert isinstance(first, Need) and isinstance(second, Need)
    assert titles(url) == ["第一期", "第二期"]
    engine = create_engine(url)
    with engine.connect() as connection:  # the failed write's event went nowhere either
        assert connection.scalar(select(func.count()).select_from(OutboxMessage)) == 3  # + registered
    engine.dispose()


def test_a_commit_that_fails_is_retried_write_by_write_so_only_the_bad_one_fails(
    database: tuple[str, sessionmaker[Session], Organisation],
) -> None:
    url, factory, org = database
    writer = GroupCommit(factory)

    def same_id(title: str) -> Callable[[Session], Need]:
        def work(session: Session) -> Need:
            need = add_listing(session, org, NEEDS, NEED.model_copy(update={"title": title}))
            need.id = "need-with-a-fixed-id"  # the second of these breaks the primary key at commit
            return need

        return work

    async def scenario() -> list[Need | BaseException]:
        writes = [
            asyncio.create_task(writer.write(same_id("甲"))),
            asyncio.create_task(writer.write(publish(org, "乙"))),
            asyncio.create_task(writer.write(same_id("丙"))),
        ]
        await held_then_released(url, writes)
        return await asyncio.gather(*writes, return_exceptions=True)

    first, other, duplicate = asyncio.run(scenario())
    writer.stop()
    assert isinstance(first, Need) and isinstance(other, Need)
    assert isinstance(duplicate, IntegrityError)
    assert titles(url) == ["乙", "甲"]


def test_a_write_runs_in_the_context_of_its_request_and_the_writer_stops_and_starts_again(
    database: tuple[str, sessionmaker[Session], Organisation],
) -> None:
    url, factory, org = database
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")
    writer = GroupCommit(factory)

    def tagged(session: Session) -> str:
        add_listing(session, org, NEEDS, NEED.model_copy(update={"title": request_id.get()}))
        return request_id.get()

    async def one(tag: str) -> str:
        request_id.set(tag)
        return await writer.write(tagged)

    async def scenario() -> list[str]:
        return await asyncio.gather(*(one(f"请求{i}") for i in range(5)))

    assert asyncio.run(scenario()) == [f"请求{i}" for i in range(5)]
    writer.stop()
    writer.stop()  # stopping a stopped writer is harmless
    assert asyncio.run(one("重新开始")) == "重新开始"  # a later write starts it again
    writer.stop()
    assert titles(url) == sorted([*(f"请求{i}" for i in range(5)), "重新开始"])


def test_a_request_cancelled_while_waiting_does_not_disturb_the_others(
    database: tuple[str, sessionmaker[Session], Organisation],
) -> None:
    """A client that goes away while its write waits: the write goes on (as a request thread's
    would), and answering its cancelled future harms no one."""
    url, factory, org = database
    writer = GroupCommit(factory)

    async def scenario() -> Need:
        gone = asyncio.create_task(writer.write(publish(org, "客户端已断开")))
        kept = asyncio.create_task(writer.write(publish(org, "正常")))
        with writes_held(url):
            await asyncio.sleep(0.3)
            gone.cancel()
            await asyncio.sleep(0.1)
        return await kept

    async def later() -> str:  # another event loop, as after a restart of the app
        return (await writer.write(publish(org, "之后"))).title

    assert asyncio.run(scenario()).title == "正常"
    assert asyncio.run(later()) == "之后"
    writer.stop()
    assert titles(url) == sorted(["客户端已断开", "正常", "之后"])


def test_a_database_that_cannot_be_reached_fails_the_batch_once_not_write_by_write() -> None:
    """Down is the database's state, not one row's: every write of the batch is answered 503
    (Unavailable, with Retry-After) from one attempt, with no retry per write against it."""
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")  # nothing listens on port 1
    writer = GroupCommit(sessionmaker(engine))
    org = Organisation(id="org-1", kind="community", region="610124104201", name="秦岭村委会")
    runs: list[str] = []
    busy = threading.Event()

    def counted(title: str) -> Callable[[Session], Need]:
        def work(session: Session) -> Need:
            runs.append(title)
            return publish(org, title)(session)

        return work

    def keeps_the_writer_busy(_: Session) -> None:  # touches no database: its commit is empty
        busy.wait(10)

    async def scenario() -> list[object]:
        first = asyncio.create_task(writer.write(keeps_the_writer_busy))
        await asyncio.sleep(0.2)  # the writer holds it; the six below queue up behind it
        writes = [asyncio.create_task(writer.write(counted(f"第{i}期"))) for i in range(6)]
        await asyncio.sleep(0.2)
        busy.set()
        return await asyncio.gather(first, *writes, return_exceptions=True)

    first, *answers = asyncio.run(scenario())
    writer.stop()
    engine.dispose()
    assert first is None
    assert all(isinstance(a, Unavailable) and a.retry_after == 5 for a in answers), answers
    assert all(isinstance(a.__cause__, OperationalError) for a in answers if isinstance(a, Unavailable))
    assert len({id(a) for a in answers}) == 6  # each request its own error
    assert runs == [f"第{i}期" for i in range(6)]  # one batch, each write run once
    assert writer.transactions == 1 and writer.writes == 1


def test_a_write_whose_event_loop_has_closed_leaves_the_writer_working(
    database: tuple[str, sessionmaker[Session], Organisation],
) -> None:
    """An app that stops while one of its writes waits: the write is committed and its answer
    has nowhere to go; the writer goes on with the next ones."""
    url, factory, org = database
    writer = GroupCommit(factory)

    async def leave_early() -> None:
        asyncio.create_task(writer.write(publish(org, "应用已停止")))  # noqa: RUF006 (left behind on purpose)
        await asyncio.sleep(0.2)

    with writes_held(url):
        asyncio.run(leave_early())  # its loop closes while the write waits for the database

    async def later() -> str:
        return (await asyncio.wait_for(writer.write(publish(org, "之后")), timeout=10)).title

    assert asyncio.run(later()) == "之后"
    writer.stop()
    assert titles(url) == sorted(["应用已停止", "之后"])
