"""Judging a replay on each backend: typed comparison of two coordinator databases, and scratch
databases of the deployment's kind that are gone afterwards."""

import asyncio
import contextlib
import shutil
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from nats.js.errors import NotFoundError
from sqlalchemy import Engine, create_engine, inspect, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from services.coordinator.app import CoordinatorSettings
from services.coordinator.book.models import BookNeed
from services.coordinator.journal.models import EventLogEntry, HeldEvent
from services.coordinator.matches.models import Match
from services.coordinator.meetings.models import MeetingSeries
from services.coordinator.registry.models import RegisteredOrganisation
from services.migrate import upgrade
from shared.db import make_engine
from shared.events.envelope import CloudEvent
from shared.messaging.models import DeadLetter, InboxEntry
from shared.messaging.nats import STREAM_NAME, NatsLink, provision_stream
from sifang import operations
from sifang.operations import Replay, compare_coordinators, rebuild_coordinator, record_check, replay_live
from sifang.platform import LocalNats, free_port
from sifang.replay_compare import (
    COORDINATOR_TABLES,
    LiveMark,
    ScratchDatabaseError,
    compare_databases,
    live_mark,
    scratch_database,
)
from tests import factories
from tests.integration.harness import CoordinatorHarness

AT = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)


def _write(url: str, *, surrogate: int, written_at: datetime) -> None:
    """The same coordinator state, written by the ORM; ids and times of storage vary by ``surrogate``."""
    engine = make_engine(url)
    with Session(engine) as session:
        session.add_all(
            [
                RegisteredOrganisation(
                    id="org-1",
                    name="马召镇东村合作社",
                    kind="community",
                    region="610124104201",
                    contact={"person": "王强", "phone": None, "tags": ["猕猴桃", 3]},
                    registered_at=AT,
                ),
                BookNeed(
                    id="need-1",
                    organisation_id="org-1",
                    kind="community",
                    category="training.livestream",
                    title="直播带货培训",
                    description="",
                    quantity=Decimal("75"),
                    unit="person",
                    region="610124104201",
                    window_start=date(2026, 4, 1),
                    window_end=None,
                    attributes={"level": "basic", "seats": 30, "share": 0.25},
                    status="open",
                    withdrawn_reason=None,
                    version=2,
                    published_at=AT,
                    updated_at=AT + timedelta(hours=8),
                ),
                Match(
                    id="match-1",
                    partition="610124:produce",
                    need_id="need-1",
                    offer_id="offer-1",
                    need_organisation_id="org-1",
                    offer_organisation_id="org-2",
                    category="produce.fruit.kiwifruit",
                    region="610124",
                    quantity=Decimal("2.5"),
                    unit="t",
                    offer_quantity=Decimal("2500.0000"),
                    offer_unit="kg",
                    base_quantity=2500.0,
                    score=0.8125,
                    status="proposed",
                    accepted_by=["org-1"],
                    fulfilled_quantity=Decimal("0"),
                    explanation={"limited_by": "offer", "filters": [{"region": True}]},
                    reason="",
                    proposed_at=AT,
                    expires_at=None,
                    updated_at=AT,
                    version=1,
                ),
                EventLogEntry(
                    event_id="event-1",
                    position=1,
                    stream_sequence=1,
                    nats_subject="sifang.community.610124.need.published",
                    type="sifang.need.published.v1",
                    source="/sifang/community/org-1",
                    kind="community",
                    organisation_id="org-1",
                    entity_id="need-1",
                    region="610124",
                    time=AT,
                    correlation_id="event-1",
                    causation_id=None,
                    data={"quantity": "75", "attributes": {}},
                    received_at=written_at,
                ),
                HeldEvent(
                    event_id="event-9",
                    waits_for="need:need-1@3",
                    reason="ahead of version 3",
                    stream_sequence=9,
                    subject="sifang.community.610124.need.updated",
                    headers={"Nats-Msg-Id": "event-9"},
                    payload=b"\x00\xffbinary",
                    held_at=written_at,
                ),
                MeetingSeries(
                    id="series-1",
                    name="周至县联席会议",
                    kind="joint",
                    region="610124",
                    cadence="monthly",
                    duration_minutes=120,
                    invited=["org-1"],
                    quorum_kinds=["community"],
                    created_at=AT,
                ),
                InboxEntry(
                    consumer="coordinator", event_id="event-1", stream_sequence=1, applied_at=written_at
                ),
                DeadLetter(
                    id=surrogate,
                    consumer="coordinator",
                    stream_sequence=4,
                    subject="sifang.community.610124.need.published",
                    event_id=None,
                    headers={},
                    payload=b"nonsense",
                    reason="not a valid CloudEvent",
                    deliveries=1,
                    created_at=written_at,
                ),
            ]
        )
        session.commit()
    engine.dispose()


def _webhook_rows(url: str) -> None:
    """Rows of the webhook sender, which a replay does not make."""
    engine = make_engine(url)
    with Session(engine) as session:
        session.add(InboxEntry(consumer="coordinator-webhooks", event_id="event-1", stream_sequence=1))
        session.add(
            DeadLetter(
                consumer="coordinator-webhooks",
                stream_sequence=5,
                subject="sifang.community.610124.need.published",
                headers={},
                payload=b"",
                reason="endpoint gone",
                deliveries=5,
            )
        )
        session.commit()
    engine.dispose()


def _pair(service_database: Callable[[str], str]) -> tuple[str, str]:
    live, rebuilt = service_database("coordinator"), service_database("coordinator")
    _write(live, surrogate=7, written_at=AT + timedelta(days=3))
    _write(rebuilt, surrogate=1, written_at=datetime.now(UTC))
    return live, rebuilt


def test_the_same_state_compares_identical_in_every_table(service_database: Callable[[str], str]) -> None:
    live, rebuilt = _pair(service_database)
    _webhook_rows(live)
    report = compare_databases(live, rebuilt, COORDINATOR_TABLES)
    assert set(report) == set(COORDINATOR_TABLES)
    assert {name: r for name, r in report.items() if not r["identical"]} == {}
    assert report["book_needs"]["rows"] == 1 and report["matches"]["rows"] == 1
    assert report["inbox"]["rows"] == 1 and report["dead_letters"]["rows"] == 1
    assert compare_coordinators(live, rebuilt)["held_events"]["identical"]


def test_a_postgresql_deployment_compares_identical_with_a_sqlite_rebuild(
    service_database: Callable[[str], str], tmp_path: Path
) -> None:
    """Across backends too: typed values, not their text (``75.0000`` against ``75``, JSON, zones)."""
    live = service_database("coordinator")
    rebuilt = f"sqlite:///{tmp_path / 'rebuilt.db'}"
    upgrade("coordinator", rebuilt)
    _write(live, surrogate=3, written_at=AT)
    _write(rebuilt, surrogate=4, written_at=AT)
    report = compare_databases(live, rebuilt, COORDINATOR_TABLES)
    assert {name: r for name, r in report.items() if not r["identical"]} == {}


def test_a_changed_value_is_reported_with_its_key(service_database: Callable[[str], str]) -> None:
    live, rebuilt = _pair(service_database)
    engine = make_engine(rebuilt)
    with engine.begin() as connection:
        connection.execute(update(BookNeed).where(BookNeed.id == "need-1").values(quantity=Decimal("75.5")))
        connection.execute(
            update(Match)
            .where(Match.id == "match-1")
            .values(explanation={"limited_by": "need", "filters": []})
        )
        connection.execute(update(DeadLetter).values(reason="something else"))
    engine.dispose()
    _write_extra_organisation(rebuilt)

    report = compare_databases(live, rebuilt, COORDINATOR_TABLES)
    differing = {
        name: (r["differing"], r["differing_count"]) for name, r in report.items() if not r["identical"]
    }
    assert differing == {
        "book_needs": ([("need-1",)], 1),
        "matches": ([("match-1",)], 1),
        "dead_letters": ([("coordinator", "4")], 1),
        "registry_organisations": ([("org-2",)], 1),
    }
    assert report["registry_organisations"]["rows"] == 1  # the live side's count

    ignoring = compare_databases(live, rebuilt, {"book_needs": {"quantity"}, "matches": {"explanation"}})
    assert ignoring["book_needs"]["identical"] and ignoring["matches"]["identical"]


def _write_extra_organisation(url: str) -> None:
    engine = make_engine(url)
    with Session(engine) as session:
        session.add(
            RegisteredOrganisation(
                id="org-2", name="甲公司", kind="enterprise", region="610124", contact={}, registered_at=AT
            )
        )
        session.commit()
    engine.dispose()


def _exists(url: str) -> bool:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return Path(str(parsed.database)).exists()
    admin = create_engine(parsed.set(database="postgres"))
    with admin.connect() as connection:
        found = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
        ).first()
    admin.dispose()
    return found is not None


def test_a_scratch_database_is_of_the_same_kind_and_gone_afterwards(
    make_database: Callable[[str], str],
) -> None:
    like = make_database("coordinator")
    with scratch_database(like) as scratch:
        assert make_url(scratch).get_backend_name() == make_url(like).get_backend_name()
        assert scratch != like
        upgrade("coordinator", scratch)  # empty, usable, and held open by a pool while dropped
        engine = make_engine(scratch)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM matches")).scalar() == 0
        assert _exists(scratch)
    assert not _exists(scratch)
    engine.dispose()

    with scratch_database(like, keep=True) as kept:
        upgrade("coordinator", kept)
    assert _exists(kept)
    parsed = make_url(kept)
    if parsed.get_backend_name() == "postgresql":
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{parsed.database}" WITH (FORCE)'))
        admin.dispose()


async def test_a_rebuild_from_the_stream_into_a_scratch_database_is_identical(
    service_database: Callable[[str], str], nats_server: LocalNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Live state made by the coordinator's consumer, rebuilt from the stream into a database of
    the same kind (PostgreSQL into PostgreSQL), compares identical in every table."""
    live = service_database("coordinator")
    harness = CoordinatorHarness(live, nats_server.url)
    village, buyer = "org-village", "org-buyer"
    history = [
        factories.registered(village),
        factories.registered(buyer, kind="enterprise", name="秦农电商"),
        factories.need_published(village, "need-1"),
        factories.need_published(village, "need-2", quantity="12.5"),
        factories.need_withdrawn(village, "need-2"),
        factories.event("community", village, "offer", "published", factories.offer_data(village, "lot-1")),
    ]
    await harness.start()
    try:
        for subject, envelope in history:
            await harness.publish(subject, envelope, msg_id=envelope.id)
        await harness.publish("sifang.community.610124.need.published", b"garbage")
        await harness.wait_until(lambda: harness.logged() == len(history) and harness.count(DeadLetter) == 1)
    finally:
        await harness.close()

    monkeypatch.setenv("NATS_URL", nats_server.url)

    def rebuild_and_compare() -> tuple[tuple[int, int], dict[str, object], str]:
        with scratch_database(live) as target:
            return rebuild_coordinator(target), compare_coordinators(live, target), target

    (applied, failed), report, target = await asyncio.to_thread(rebuild_and_compare)
    assert make_url(target).get_backend_name() == make_url(live).get_backend_name()
    assert (applied, failed) == (len(history) + 1, 0)
    assert {name: r for name, r in report.items() if not r["identical"]} == {}  # type: ignore[index]
    assert report["book_needs"] == {"rows": 2, "identical": True, "differing": [], "differing_count": 0}
    assert not _exists(target)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # only a server refuses to create one
def test_a_user_who_may_not_create_databases_is_told_so(make_database: Callable[[str], str]) -> None:
    like = make_url(make_database("coordinator"))
    role = f"sifang_reader_{uuid.uuid4().hex[:8]}"
    admin = create_engine(like, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE ROLE "{role}" LOGIN NOCREATEDB'))
    try:
        refused = scratch_database(like.set(username=role).render_as_string(hide_password=False))
        with pytest.raises(ScratchDatabaseError, match="cannot create a database"), refused:
            pass  # pragma: no cover
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


def _history(village: str, needs: int) -> list[tuple[str, CloudEvent]]:
    return [factories.registered(village)] + [
        factories.need_published(village, f"need-{n}") for n in range(needs)
    ]


async def test_a_replay_rebuilds_the_stream_only_as_far_as_the_live_coordinator_got(
    service_database: Callable[[str], str], nats_server: LocalNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A coordinator that has not yet applied the stream's newest message (its clock's tick, or a
    party's event just published) is not a record that differs from its stream: the replay
    rebuilds through the last sequence the live coordinator processed, and says where that is."""
    live = service_database("coordinator")
    harness = CoordinatorHarness(live, nats_server.url)
    village = "org-village"
    history = _history(village, 3)
    await harness.start()
    try:
        for subject, envelope in history:
            await harness.publish(subject, envelope, msg_id=envelope.id)
        await harness.publish("sifang.community.610124.need.published", b"garbage")  # the live mark's last
        await harness.wait_until(lambda: harness.logged() == len(history) and harness.count(DeadLetter) == 1)
        await harness.stop()
        late_subject, late = factories.need_published(village, "need-late")
        await harness.publish(late_subject, late, msg_id=late.id)  # in the stream, not applied live
    finally:
        await harness.close()
    monkeypatch.setenv("NATS_URL", nats_server.url)

    def replay_and_rebuild_all() -> tuple[Replay, dict[str, Any]]:
        with scratch_database(live) as target, scratch_database(live) as whole:
            replay = replay_live(live, target)
            rebuild_coordinator(whole)  # the whole stream, as a replay used to
            return replay, compare_coordinators(live, whole)

    replay, whole = await asyncio.to_thread(replay_and_rebuild_all)
    assert replay.settled and replay.identical and replay.rounds == 1
    assert (replay.through, replay.stream_last) == (len(history) + 1, len(history) + 2)
    assert (replay.applied, replay.failed) == (len(history) + 1, 0)
    assert live_mark(live) == LiveMark(
        len(history) + 1, applied=len(history), held=0, dead_letters=1, redriven=0
    )
    assert not whole["book_needs"]["identical"] and whole["book_needs"]["differing"] == [("need-late",)]


async def test_a_replay_catches_up_with_a_coordinator_that_applies_events_meanwhile(
    service_database: Callable[[str], str], nats_server: LocalNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events applied live while the replay rebuilds: the rebuild is extended to the new mark and
    compared again, until the record stood still for one comparison; while it never does
    (``rounds`` used up), the replay gives no verdict."""
    live = service_database("coordinator")
    harness = CoordinatorHarness(live, nats_server.url)
    village = "org-village"
    history = _history(village, 150)  # a rebuild long enough to publish into
    monkeypatch.setenv("NATS_URL", nats_server.url)
    await harness.start()
    try:
        for subject, envelope in history:
            await harness.publish(subject, envelope, msg_id=envelope.id)
        await harness.wait_until(lambda: harness.logged() == len(history), timeout=60)
        published = len(history)

        async def publish(count: int) -> None:
            nonlocal published
            for _ in range(count):
                subject, envelope = factories.need_published(village, f"need-{published}")
                await harness.publish(subject, envelope, msg_id=envelope.id)
                published += 1

        async def rebuilding(target: str) -> None:
            """Until the replay's rebuild has applied its first events."""
            engine = make_engine(target)
            try:
                deadline = time.monotonic() + 30
                while not inspect(engine).has_table("inbox") or not _count(engine, "inbox"):
                    assert time.monotonic() < deadline, "the replay did not start rebuilding"
                    await asyncio.sleep(0.01)
            finally:
                engine.dispose()

        with scratch_database(live) as target:
            before = live_mark(live)
            replaying = asyncio.ensure_future(asyncio.to_thread(replay_live, live, target))
            await rebuilding(target)
            await publish(5)  # applied live while the first round rebuilds
            result = await replaying
        assert result.settled and result.identical, result.report
        assert result.rounds >= 2 and result.through == before.sequence + 5 == live_mark(live).sequence
        assert result.applied == len(history) + 5 and result.report["book_needs"]["rows"] == published - 1

        async def publish_until(done: "asyncio.Future[Replay]") -> None:
            while not done.done():
                await publish(1)
                await asyncio.sleep(0.05)

        with scratch_database(live) as target:
            restless = asyncio.ensure_future(asyncio.to_thread(replay_live, live, target, 1))
            await asyncio.gather(restless, publish_until(restless))
        assert not restless.result().settled and not restless.result().identical
    finally:
        await harness.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # a file is what one copies back
async def test_a_record_restored_from_an_older_backup_differs_from_what_its_consumer_acknowledged(
    service_database: Callable[[str], str], nats_server: LocalNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events the coordinator applied and acknowledged, then lost with a restore of its database
    from a copy taken before them, are never delivered again: the replay rebuilds as far as the
    durable consumer acknowledged, not only as far as the record says, and reports them."""
    live = service_database("coordinator")
    database = Path(make_url(live).database or "")
    harness = CoordinatorHarness(live, nats_server.url)
    village = "org-village"
    history = _history(village, 2)
    lost = [factories.need_published(village, f"need-lost-{n}") for n in range(2)]
    monkeypatch.setenv("NATS_URL", nats_server.url)
    try:
        for part, backup in ((history, True), (lost, False)):
            await harness.start()
            for subject, envelope in part:
                await harness.publish(subject, envelope, msg_id=envelope.id)
            applied = len(history) + (0 if backup else len(lost))
            await harness.wait_until(lambda applied=applied: harness.logged() == applied)
            await _acknowledged(nats_server, applied)
            await harness.stop()
            if backup:
                harness.runtime.engine.dispose()
                shutil.copyfile(database, database.with_suffix(".backup"))
    finally:
        await harness.close()
    settings = CoordinatorSettings(database_url=live)
    before = await asyncio.to_thread(record_check, nats_server.url, settings)
    assert before.ok, before.detail
    shutil.copyfile(database.with_suffix(".backup"), database)  # the restore
    assert live_mark(live).sequence == len(history)
    doctor = await asyncio.to_thread(record_check, nats_server.url, settings)
    assert not doctor.ok and doctor.advice.startswith("its database was restored from a copy older")
    first, last = len(history) + 1, len(history) + len(lost)
    assert doctor.detail == (
        f"2 events its consumer acknowledged not in the record (stream sequences {first}–{last}; the "
        f"record has processed through {len(history)}, the consumer acknowledged through {last})"
    )
    monkeypatch.setattr(operations, "DOCTOR_SCAN", 1)  # it reads no further than that past the record
    doctor = await asyncio.to_thread(record_check, nats_server.url, settings)
    assert not doctor.ok
    assert doctor.detail.startswith(
        f"1 or more events its consumer acknowledged not in the record (stream sequence {first};"
    )

    def replay() -> Replay:
        with scratch_database(live) as target:
            return replay_live(live, target)

    result = await asyncio.to_thread(replay)
    assert result.settled and not result.identical
    assert result.through == result.stream_last == len(history) + len(lost)
    assert result.report["book_needs"]["differing"] == [("need-lost-0",), ("need-lost-1",)]


async def test_a_stream_that_ends_before_what_the_coordinator_applied_is_named_as_such(
    service_database: Callable[[str], str],
    nats_server: LocalNats,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Replayed from another stream that holds only the first of what the coordinator applied
    (restored from an older backup, say): the replay differs, and says how far each got."""
    live = service_database("coordinator")
    harness = CoordinatorHarness(live, nats_server.url)
    history = _history("org-village", 3)
    await harness.start()
    try:
        for subject, envelope in history:
            await harness.publish(subject, envelope, msg_id=envelope.id)
        await harness.wait_until(lambda: harness.logged() == len(history))
    finally:
        await harness.close()
    older = LocalNats(free_port(), tmp_path / "older-store", tmp_path / "older.log")
    older.start()
    try:
        await provision_stream(older.url)
        link = NatsLink(older.url, "test-restore")
        js = await link.jetstream()
        for subject, envelope in history[:2]:
            await js.publish(
                subject, envelope.to_json(), stream=STREAM_NAME, headers={"Nats-Msg-Id": envelope.id}
            )
        await link.close()
        monkeypatch.setenv("NATS_URL", older.url)

        def replay() -> Replay:
            with scratch_database(live) as target:
                return replay_live(live, target)

        result = await asyncio.to_thread(replay)
        doctor = await asyncio.to_thread(record_check, older.url, CoordinatorSettings(database_url=live))
    finally:
        older.stop()
    assert result.settled and not result.identical
    assert (result.live_through, result.through, result.stream_last) == (len(history), 2, 2)
    assert not doctor.ok
    assert (
        doctor.detail
        == f"the record processed the stream through sequence {len(history)}, but the stream ends at 2"
    )
    assert result.report["book_needs"]["differing"] == [("need-1",), ("need-2",)]


async def test_the_doctor_takes_a_copy_of_an_applied_event_and_a_dead_letter_as_recorded(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> None:
    """Past the record's last sequence the consumer acknowledged a second copy of an event it had
    applied (published again without its message id, so the stream kept both), which leaves no
    inbox row of its own; before it, a message it dead-lettered. Neither is a lost event."""
    live = service_database("coordinator")
    harness = CoordinatorHarness(live, nats_server.url)
    history = _history("org-village", 2)
    try:
        await harness.start()
        for subject, envelope in history:
            await harness.publish(subject, envelope, msg_id=envelope.id)
        await harness.publish("sifang.community.610124.need.published", b"garbage")
        await harness.publish(*history[1])  # a copy: no Nats-Msg-Id, so no deduplication
        await _acknowledged(nats_server, len(history) + 2)
        assert harness.logged() == len(history) and harness.count(DeadLetter) == 1
    finally:
        await harness.close()
    assert live_mark(live).sequence == len(history) + 1
    doctor = await asyncio.to_thread(record_check, nats_server.url, CoordinatorSettings(database_url=live))
    assert doctor.ok, doctor.detail
    assert doctor.detail == (
        f"processed through sequence {len(history) + 1}, acknowledged through {len(history) + 2}, "
        f"the stream ends at {len(history) + 2}"
    )


async def test_a_rebuild_through_a_deleted_message_stops_before_the_next(
    service_database: Callable[[str], str], nats_server: LocalNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message a rebuild should end at is gone from the stream (deleted, or aged out): the
    stream delivers the next one instead, which the rebuild must not apply."""
    live = service_database("coordinator")
    harness = CoordinatorHarness(live, nats_server.url)
    history = _history("org-village", 4)
    try:
        for subject, envelope in history:
            await harness.publish(subject, envelope, msg_id=envelope.id)
        js = await harness.publisher.jetstream()
        assert await js.delete_msg(STREAM_NAME, 4)  # need-2
    finally:
        await harness.close()
    monkeypatch.setenv("NATS_URL", nats_server.url)

    def rebuild() -> tuple[tuple[int, int], list[str]]:
        with scratch_database(live) as target:
            done = rebuild_coordinator(target, through=4)
            engine = make_engine(target)
            with engine.connect() as connection:
                needs = list(connection.execute(text("SELECT id FROM book_needs ORDER BY id")).scalars())
            engine.dispose()
            return done, needs

    done, needs = await asyncio.to_thread(rebuild)
    assert done == (3, 0) and needs == ["need-0", "need-1"]  # not need-3, at sequence 5


async def _acknowledged(nats: LocalNats, sequence: int) -> None:
    """Until the coordinator's durable consumer has acknowledged ``sequence``. The consumer may
    not exist yet: the harness's task creates it when it first runs."""
    link = NatsLink(nats.url, "test-acks")
    js = await link.jetstream()
    deadline = time.monotonic() + 15
    while True:
        with contextlib.suppress(NotFoundError):
            if (await js.consumer_info(STREAM_NAME, "coordinator")).ack_floor.stream_seq >= sequence:
                break
        assert time.monotonic() < deadline, "the coordinator did not acknowledge in time"
        await asyncio.sleep(0.05)
    await link.close()


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)
