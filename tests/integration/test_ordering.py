"""Per-entity order, the registry as a gate, and what the consumer does when its database fails:
against a real nats-server and each database backend."""

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from services.coordinator.book.models import BookNeed
from services.coordinator.clock import tick_if_due
from services.coordinator.journal.models import EventLogEntry, HeldEvent
from services.coordinator.projection import apply_event
from services.coordinator.registry.models import RegisteredOrganisation
from shared.db import make_engine
from shared.events.catalogue import CATALOGUE
from shared.events.envelope import new_event_id
from shared.events.validation import CheckedEvent
from shared.messaging.consumer import Delivery
from shared.messaging.models import DeadLetter, InboxEntry
from tests import factories
from tests.integration.harness import CoordinatorHarness


def _need(harness: CoordinatorHarness, need_id: str) -> BookNeed | None:
    with harness.session() as session:
        return session.get(BookNeed, need_id)


async def test_an_entitys_events_apply_in_version_order_whatever_order_they_arrive(
    harness: CoordinatorHarness,
) -> None:
    org, need_id = await harness.register(), new_event_id()
    # The withdrawal first, then version 3, then 2, then 1.
    await harness.publish(*factories.need_withdrawn(org, need_id, version=3))
    await harness.publish(*factories.need_updated(org, need_id, version=3, title="第三版"))
    await harness.publish(*factories.need_updated(org, need_id, version=2, title="第二版"))
    await harness.start()
    await harness.wait_until(lambda: harness.count(HeldEvent) == 3)
    assert _need(harness, need_id) is None
    with harness.session() as session:
        waits = {h.waits_for for h in session.query(HeldEvent)}
        assert waits == {f"need:{need_id}@3", f"need:{need_id}@2", f"need:{need_id}@1"}
    await harness.publish(*factories.need_published(org, need_id, version=1))
    await harness.wait_until(lambda: harness.count(HeldEvent) == 0)
    need = _need(harness, need_id)
    assert need is not None and (need.version, need.title, need.status) == (3, "第三版", "withdrawn")
    assert harness.count(DeadLetter) == 0
    with harness.session() as session:
        applied = [
            (e.type, e.data.get("version"))
            for e in session.query(EventLogEntry)
            .where(EventLogEntry.entity_id == need_id)
            .order_by(EventLogEntry.position)
        ]
    assert applied == [
        ("sifang.need.published.v1", 1),
        ("sifang.need.updated.v1", 2),
        ("sifang.need.updated.v1", 3),
        ("sifang.need.withdrawn.v1", 3),
    ]


async def test_events_of_an_unregistered_organisation_wait_for_its_registration(
    harness: CoordinatorHarness,
) -> None:
    org, need_id = new_event_id(), new_event_id()
    await harness.publish(*factories.need_published(org, need_id))
    await harness.start()
    await harness.wait_until(lambda: harness.count(HeldEvent) == 1)
    assert _need(harness, need_id) is None
    with harness.session() as session:
        held = session.query(HeldEvent).one()
        assert held.waits_for == f"organisation:{org}" and "not been registered" in held.reason
    await harness.register(org=org)
    await harness.wait_until(lambda: _need(harness, need_id) is not None)
    assert harness.count(HeldEvent) == 0 and harness.count(DeadLetter) == 0


async def test_a_gap_that_never_fills_is_dead_lettered_by_the_clock_with_its_reason(
    harness: CoordinatorHarness,
) -> None:
    stranger = new_event_id()
    subject, envelope = factories.need_published(stranger)
    await harness.publish(subject, envelope, envelope.id)
    await harness.start()
    await harness.wait_until(lambda: harness.count(HeldEvent) == 1)
    later = envelope.time + timedelta(seconds=harness.settings.hold_timeout_seconds + 1)
    with harness.session() as session:
        assert tick_if_due(session, "coordinator", later, timedelta(seconds=60)) is not None
        session.commit()
    relay = asyncio.create_task(harness.runtime.relay.run())
    try:
        await harness.wait_until(lambda: harness.count(DeadLetter) == 1)
    finally:
        relay.cancel()
    assert harness.count(HeldEvent) == 0
    with harness.session() as session:
        letter = session.query(DeadLetter).one()
        assert letter.event_id == envelope.id
        assert "gap never filled" in letter.reason and f"organisation {stranger}" in letter.reason


async def test_the_registry_refuses_wrong_kinds_and_second_registrations(harness: CoordinatorHarness) -> None:
    village = await harness.register("community")
    # A community organisation publishing through the government service.
    subject, as_government = factories.event(
        "government", village, "need", "published", factories.need_data(village)
    )
    await harness.publish(subject, as_government)
    # The enterprise service registering a community organisation.
    data = factories.registered(new_event_id())[1].data | {"kind": "community"}
    mislabelled = CATALOGUE["sifang.organisation.registered.v1"].build(
        kind="enterprise",
        organisation_id=data["organisation_id"],
        region=factories.VILLAGE,
        data=CATALOGUE["sifang.organisation.registered.v1"].data_model.model_validate(data),
    )
    await harness.publish(*mislabelled)
    # The same organisation registered again, now as an enterprise.
    await harness.publish(*factories.registered(village, kind="enterprise"))
    await harness.start()
    await harness.wait_until(lambda: harness.count(DeadLetter) == 3)
    with harness.session() as session:
        reasons = [d.reason for d in session.query(DeadLetter).order_by(DeadLetter.stream_sequence)]
        assert "registered as community" in reasons[0] and "government service" in reasons[0]
        assert "enterprise service cannot register a community organisation" in reasons[1]
        assert "registered already (as community)" in reasons[2]
        assert session.get(RegisteredOrganisation, village).kind == "community"  # type: ignore[union-attr]
        assert session.get(BookNeed, as_government.subject) is None
    assert harness.count(HeldEvent) == 0


async def test_a_reused_event_id_with_other_data_is_dead_lettered(harness: CoordinatorHarness) -> None:
    org = await harness.register()
    subject, original = factories.need_published(org)
    await harness.publish(subject, original)
    forged = original.model_copy(update={"data": original.data | {"title": "伪造的标题"}})
    await harness.publish(subject, forged)
    await harness.publish(subject, original)  # a true copy stays a harmless duplicate
    await harness.start()
    await harness.wait_until(lambda: harness.count(InboxEntry) == 2 and harness.count(DeadLetter) == 1)
    await asyncio.sleep(0.5)
    assert harness.count(DeadLetter) == 1
    with harness.session() as session:
        assert "ids must not be reused" in session.query(DeadLetter).one().reason
        assert session.get(BookNeed, original.subject).title == "直播带货培训"  # type: ignore[union-attr]


async def test_killed_while_holding_an_event_the_coordinator_gets_it_back_first(
    harness: CoordinatorHarness,
) -> None:
    org = await harness.register()
    pairs = [new_event_id() for _ in range(10)]
    for need_id in pairs:  # create-then-withdraw, each in quick succession
        await harness.publish(*factories.need_published(org, need_id))
        await harness.publish(*factories.need_withdrawn(org, need_id, version=1))
    reached, release = threading.Event(), threading.Event()
    seen = 0

    def crashing(session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
        nonlocal seen
        apply_event(session, checked, delivery)
        seen += 1
        if seen == 6:
            reached.set()
            release.wait(10)

    await harness.start(crashing)
    await harness.wait_until(reached.is_set)
    await harness.stop()
    release.set()
    await harness.start()
    await harness.wait_until(lambda: harness.count(InboxEntry) == 21, timeout=30)
    with harness.session() as session:
        states = {n.id: n.status for n in session.query(BookNeed)}
    assert states == dict.fromkeys(pairs, "withdrawn")
    assert harness.count(DeadLetter) == 0 and harness.count(HeldEvent) == 0


async def test_a_database_outage_pauses_the_consumer_without_using_up_deliveries(
    harness: CoordinatorHarness,
) -> None:
    org = await harness.register()
    need_ids = [new_event_id() for _ in range(3)]
    for need_id in need_ids:
        await harness.publish(*factories.need_published(org, need_id))
    outage_until = time.monotonic() + 6  # longer than max_deliver × ack_wait of the harness
    deliveries: list[int] = []

    def down_for_a_while(session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
        if checked.envelope.subject in need_ids and time.monotonic() < outage_until:
            deliveries.append(delivery.deliveries)
            raise OperationalError("SELECT 1", None, ConnectionRefusedError("connection refused"))
        apply_event(session, checked, delivery)

    consumer = harness.consumer(down_for_a_while)
    await harness.start(down_for_a_while, consumer=consumer)
    await harness.wait_until(lambda: consumer.state.paused_since is not None)
    assert consumer.state.as_dict()["state"] == "paused"
    assert "database unavailable" in str(consumer.state.as_dict()["reason"])
    await harness.wait_until(lambda: all(_need(harness, n) is not None for n in need_ids), timeout=30)
    assert harness.count(DeadLetter) == 0
    assert set(deliveries) == {1}  # the same delivery kept and retried in place
    assert consumer.state.paused_since is None


def test_clock_ticks_only_when_work_is_due_and_not_while_one_is_on_its_way(
    service_database: Callable[[str], str],
) -> None:
    engine = make_engine(service_database("coordinator"))
    sessions = sessionmaker(engine)
    now = datetime(2026, 12, 1, 8, tzinfo=UTC)
    with sessions() as session:
        assert tick_if_due(session, "coordinator", now, timedelta(minutes=10)) is None
        envelope = factories.need_published(new_event_id())[1]
        session.add(
            HeldEvent(
                event_id=envelope.id,
                waits_for="organisation:x",
                reason="test",
                stream_sequence=1,
                subject="sifang.community.610124.need.published",
                headers={},
                payload=envelope.to_json(),
                held_at=now - timedelta(minutes=11),
            )
        )
        session.flush()
        tick = tick_if_due(session, "coordinator", now, timedelta(minutes=10))
        assert tick is not None
        session.commit()
        assert tick_if_due(session, "coordinator", now + timedelta(minutes=1), timedelta(minutes=10)) is None
        session.add(InboxEntry(consumer="coordinator", event_id=tick, stream_sequence=2))
        session.commit()
        again = tick_if_due(session, "coordinator", now + timedelta(minutes=1), timedelta(minutes=10))
        assert again is not None and again != tick
    engine.dispose()
