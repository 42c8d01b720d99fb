"""The coordinator's consumer applying fetched batches in one transaction, on each backend."""

import threading

from sqlalchemy.orm import Session

from services.coordinator.book.models import BookNeed
from services.coordinator.clock import CLOCK_REGION
from services.coordinator.journal.models import EventLogEntry
from services.coordinator.projection import apply_event
from shared.db import utcnow
from shared.events.data import ClockTicked
from shared.events.envelope import new_event_id
from shared.events.validation import CheckedEvent
from shared.messaging.consumer import Delivery, Outcome
from shared.messaging.models import DeadLetter, InboxEntry
from tests import factories
from tests.integration.harness import CoordinatorHarness


def _deliveries(history: list[tuple[str, bytes]]) -> list[Delivery]:
    return [Delivery(subject, payload, {}, k + 1, 1) for k, (subject, payload) in enumerate(history)]


def test_a_clean_batch_commits_once_and_a_poisoned_one_changes_nothing(harness: CoordinatorHarness) -> None:
    owner, intruder = "org-owner", "org-intruder"
    need_id = new_event_id()
    clean = [
        factories.registered(owner),
        factories.registered(intruder),
        factories.need_published(owner, need_id),
    ]
    consumer = harness.consumer()
    commits = 0

    def counted(session: Session) -> None:
        nonlocal commits
        commits += 1

    from sqlalchemy import event

    event.listen(harness.runtime.session_factory, "after_commit", counted)
    outcomes = consumer.process_batch(_deliveries([(s, e.to_json()) for s, e in clean]))
    assert outcomes == [Outcome.APPLIED] * 3 and commits == 1
    poisoned = [
        factories.need_published(owner),
        factories.need_updated(intruder, need_id, version=2, quantity="1"),  # not the intruder's
        factories.need_published(owner),
    ]
    batch = [Delivery(s, e.to_json(), {}, 10 + k, 1) for k, (s, e) in enumerate(poisoned)]
    assert consumer.process_batch(batch) is None  # rolled back: to be settled one by one
    assert harness.count(InboxEntry) == 3 and harness.count(BookNeed) == 1 and commits == 1
    assert [consumer.process(d) for d in batch] == [Outcome.APPLIED, Outcome.DEAD_LETTERED, Outcome.APPLIED]
    assert harness.count(BookNeed) == 3 and harness.count(DeadLetter) == 1


async def test_a_poison_event_in_a_fetched_batch_is_dead_lettered_and_the_rest_apply(
    harness: CoordinatorHarness,
) -> None:
    owner, intruder = await harness.register(), await harness.register()
    need_id = new_event_id()
    await harness.publish(*factories.need_published(owner, need_id))
    await harness.publish(*factories.need_updated(intruder, need_id, version=2, quantity="1"))
    await harness.publish("sifang.community.610124.need.published", b"garbage")
    good = [factories.need_published(owner) for _ in range(5)]
    for subject, envelope in good:
        await harness.publish(subject, envelope, envelope.id)
    await harness.start()
    await harness.wait_until(lambda: harness.count(InboxEntry) == 8 and harness.count(DeadLetter) == 2)
    with harness.session() as session:
        reasons = sorted(d.reason for d in session.query(DeadLetter))
        assert "belongs to" in reasons[0] or "belongs to" in reasons[1]
        assert all(session.get(BookNeed, e.subject) is not None for _, e in good)
        assert session.get(BookNeed, need_id).quantity == 30  # type: ignore[union-attr]


async def test_a_batch_left_unsettled_by_a_crash_comes_back_before_later_events(
    harness: CoordinatorHarness,
) -> None:
    org = await harness.register()
    first = [factories.need_published(org) for _ in range(6)]
    for subject, envelope in first:
        await harness.publish(subject, envelope, envelope.id)
    reached, release = threading.Event(), threading.Event()

    def stuck(session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
        apply_event(session, checked, delivery)
        if checked.envelope.id == first[2][1].id:
            reached.set()
            release.wait(10)  # the process "dies" holding the batch

    await harness.start(stuck)
    await harness.wait_until(reached.is_set)
    await harness.stop()
    release.set()
    later = [factories.need_published(org) for _ in range(6)]
    for subject, envelope in later:
        await harness.publish(subject, envelope, envelope.id)
    await harness.start()
    await harness.wait_until(lambda: harness.logged() == 13)
    with harness.session() as session:
        received = session.query(EventLogEntry).where(EventLogEntry.kind != "coordinator")
        logged = [e.event_id for e in received.order_by(EventLogEntry.position)]
    assert logged[1:] == [e.id for _, e in first + later]  # stream order, the crash notwithstanding


async def test_a_tick_in_a_fetched_batch_is_applied_alone_after_the_events_before_it_commit(
    harness: CoordinatorHarness,
) -> None:
    org = await harness.register()
    before = [factories.need_published(org) for _ in range(3)]
    tick_id = new_event_id()
    tick = factories.event(
        "coordinator",
        "coordinator",
        "clock",
        "ticked",
        ClockTicked(tick_id=tick_id, coordinator="coordinator", at=utcnow()),
        region=CLOCK_REGION,
    )
    after = [factories.need_published(org) for _ in range(3)]
    for subject, envelope in [*before, tick, *after]:
        await harness.publish(subject, envelope, envelope.id)
    committed_when_applied: dict[str, int] = {}

    def watching(session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
        committed_when_applied[checked.envelope.id] = harness.count(InboxEntry)  # another session
        apply_event(session, checked, delivery)

    await harness.start(watching)  # all nine wait on the stream: one fetch takes them together
    await harness.wait_until(lambda: harness.count(InboxEntry) == 8)
    # the registration and the three needs before the tick were applied in one transaction,
    # committed before the tick was applied; the tick was committed alone, before the needs
    # after it (again one transaction)
    assert {committed_when_applied[e.id] for _, e in before} == {0}
    assert committed_when_applied[tick[1].id] == 1 + 3
    assert {committed_when_applied[e.id] for _, e in after} == {1 + 3 + 1}
