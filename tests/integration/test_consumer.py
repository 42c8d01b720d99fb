"""The coordinator's consumer against a real nats-server and each database backend."""

import threading

from sqlalchemy.orm import Session

from services.coordinator.book.models import BookNeed
from services.coordinator.journal.models import EventLogEntry
from services.coordinator.projection import apply_event
from services.coordinator.registry.models import RegisteredOrganisation
from shared.events.envelope import new_event_id
from shared.events.validation import CheckedEvent
from shared.messaging.consumer import Delivery
from shared.messaging.models import DeadLetter, InboxEntry
from tests import factories
from tests.integration.harness import CoordinatorHarness


async def test_events_build_the_registry_book_and_log(harness: CoordinatorHarness) -> None:
    org = new_event_id()
    need_id = new_event_id()
    await harness.start()
    for subject, envelope in (factories.registered(org), factories.need_published(org, need_id)):
        await harness.publish(subject, envelope, envelope.id)
    await harness.wait_until(lambda: harness.logged() == 2)
    with harness.session() as session:
        assert session.get(RegisteredOrganisation, org).name == "马召镇猕猴桃合作社"  # type: ignore[union-attr]
        need = session.get(BookNeed, need_id)
        assert need is not None and need.status == "open" and need.kind == "community"
        assert need.quantity == 30
        sequences = [
            e.stream_sequence for e in session.query(EventLogEntry).order_by(EventLogEntry.stream_sequence)
        ]
        assert sequences == [1, 2]


async def test_duplicate_delivery_changes_nothing(harness: CoordinatorHarness) -> None:
    org = await harness.register()
    subject, envelope = factories.need_published(org)
    first = await harness.publish(subject, envelope, envelope.id)
    again = await harness.publish(subject, envelope, envelope.id)
    assert again.duplicate and again.seq == first.seq  # JetStream drops it within its window
    await harness.publish(subject, envelope)  # a copy without a message id gets through
    marker_subject, marker = factories.need_published(org)
    await harness.publish(marker_subject, marker, marker.id)
    await harness.start()
    await harness.wait_until(lambda: harness.count(EventLogEntry, EventLogEntry.event_id == marker.id) == 1)
    assert harness.count(EventLogEntry) == 3
    assert harness.count(InboxEntry) == 3
    assert harness.count(BookNeed) == 2
    assert harness.count(DeadLetter) == 0
    with harness.session() as session:
        assert session.get(BookNeed, envelope.subject).version == 1  # type: ignore[union-attr]


async def test_restarted_mid_stream_the_coordinator_resumes_without_loss(
    harness: CoordinatorHarness,
) -> None:
    org = await harness.register()
    total, crash_at = 30, 12
    for _ in range(total):
        subject, envelope = factories.need_published(org)
        await harness.publish(subject, envelope, envelope.id)

    reached, release = threading.Event(), threading.Event()
    applied = 0

    def crashing_handler(session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
        nonlocal applied
        apply_event(session, checked, delivery)
        applied += 1
        if applied == crash_at:
            reached.set()
            release.wait(10)  # hold this message while the process "dies"

    await harness.start(crashing_handler)
    await harness.wait_until(reached.is_set)
    await harness.stop()  # the message it holds is never acked
    release.set()
    assert harness.logged() < total + 1

    await harness.start()
    await harness.wait_until(lambda: harness.logged() == total + 1, timeout=30)
    assert harness.count(BookNeed) == total
    assert harness.count(InboxEntry) == total + 1
    assert harness.count(DeadLetter) == 0


async def test_malformed_event_is_dead_lettered_and_the_consumer_keeps_going(
    harness: CoordinatorHarness,
) -> None:
    org = await harness.register()
    garbage = b'{"specversion": "1.0", "type": "sifang.need.published.v1", "data": 42'
    await harness.publish("sifang.community.610124.need.published", garbage)
    subject, wrong_kind = factories.need_published(org)
    await harness.publish(subject.replace("community", "enterprise"), wrong_kind)
    subject, good = factories.need_published(org)
    await harness.publish(subject, good, good.id)
    await harness.start()
    await harness.wait_until(lambda: harness.logged() == 2)
    await harness.wait_until(lambda: harness.count(DeadLetter) == 2)
    with harness.session() as session:
        letters = session.query(DeadLetter).order_by(DeadLetter.stream_sequence).all()
        assert letters[0].payload == garbage
        assert "not a valid CloudEvent" in letters[0].reason
        assert letters[0].stream_sequence == 2 and letters[0].event_id is None
        assert "disagrees with subject kind" in letters[1].reason
        assert letters[1].event_id == wrong_kind.id
        assert session.get(BookNeed, good.subject) is not None
        assert session.get(BookNeed, wrong_kind.subject) is None


async def test_acting_on_another_organisations_need_is_rejected(harness: CoordinatorHarness) -> None:
    owner, intruder = await harness.register(), await harness.register()
    need_id = new_event_id()
    await harness.publish(*factories.need_published(owner, need_id))
    await harness.publish(*factories.need_updated(intruder, need_id, version=2, quantity="1"))
    await harness.publish(*factories.need_withdrawn(intruder, need_id))
    await harness.start()
    await harness.wait_until(lambda: harness.count(DeadLetter) == 2)
    with harness.session() as session:
        need = session.get(BookNeed, need_id)
        assert need is not None and need.quantity == 30 and need.status == "open"
        reasons = [d.reason for d in session.query(DeadLetter)]
        assert all("belongs to" in r for r in reasons)


async def test_a_failing_handler_is_retried_then_dead_lettered(harness: CoordinatorHarness) -> None:
    org = await harness.register()
    _, flaky = factories.need_published(org)
    _, broken = factories.need_published(org)
    failures: dict[str, int] = {}

    def handler(session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
        event_id = checked.envelope.id
        if event_id == broken.id or (event_id == flaky.id and failures.get(event_id, 0) < 1):
            failures[event_id] = failures.get(event_id, 0) + 1
            raise RuntimeError("database hiccup")
        apply_event(session, checked, delivery)

    for subject, envelope in (
        factories.need_published(org),
        (_subject(flaky), flaky),
        (_subject(broken), broken),
        factories.need_published(org),
    ):
        await harness.publish(subject, envelope, envelope.id)
    await harness.start(handler)
    await harness.wait_until(lambda: harness.logged() == 4 and harness.count(DeadLetter) == 1)
    assert failures == {flaky.id: 1, broken.id: 3}  # tried in place: 1 + len(backoff) times
    with harness.session() as session:
        letter = session.query(DeadLetter).one()
        assert letter.event_id == broken.id
        assert letter.reason.startswith("gave up after 3 tries: RuntimeError")
        assert letter.deliveries == 1  # no delivery of the server's was used up
        assert session.get(BookNeed, flaky.subject) is not None


def _subject(envelope: object) -> str:
    return "sifang.community.610124.need.published"


async def test_a_late_older_version_never_overwrites_a_newer_one(harness: CoordinatorHarness) -> None:
    org, need_id = await harness.register(), new_event_id()
    await harness.publish(*factories.need_updated(org, need_id, version=2, title="新标题"))
    await harness.publish(*factories.need_published(org, need_id, version=1))
    await harness.publish(*factories.need_withdrawn(org, need_id))
    await harness.start()
    await harness.wait_until(lambda: harness.logged() == 4)
    with harness.session() as session:
        need = session.get(BookNeed, need_id)
        assert need is not None
        assert (need.version, need.title, need.status) == (2, "新标题", "withdrawn")
