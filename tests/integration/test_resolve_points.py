"""Re-solve points (``COORDINATOR_RESOLVE_AT=tick``), through the coordinator's projection on each
backend: need and offer events only update the book and mark their partitions; the coordinator
puts one tick on the stream for them, and the partitions are solved when that tick comes back,
so the record stays a function of the stream."""

from collections import deque
from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from services.coordinator.matches.models import DirtyPartition, Match
from services.coordinator.matches.service import MatchPolicy
from services.coordinator.projection import CoordinatorProjection
from shared.db import make_engine
from shared.events.data import ClockTicked
from shared.events.validation import check_event
from shared.messaging.consumer import Delivery
from shared.messaging.models import InboxEntry, OutboxMessage
from tests import factories

TICK = "sifang.clock.ticked.v1"
CONSUMER = "coordinator"


_course = factories.training_course


def _need(org: str, need_id: str, persons: int, **kwargs: str) -> tuple[str, object]:
    return factories.training_need(org, need_id, persons, **kwargs)


def _history() -> list[tuple[str, object]]:
    """Three villages ask a course of 30 seats for 15, 10 and 12 people: contested."""
    return [
        factories.registered("station", kind="ngo", name="社工站"),
        factories.registered("east", name="东村村委会"),
        factories.registered("west", name="西村村委会"),
        factories.registered("north", name="北村村委会"),
        _course("station", "course", 30),
        _need("east", "need-east", 15),
        _need("west", "need-west", 10),
        _need("north", "need-north", 12),
    ]


class Stream:
    """The stream as the coordinator sees it: stakeholder events, and the ticks its outbox
    publishes, appended behind whatever is on the stream already (as under load)."""

    def __init__(self, url: str, policy: MatchPolicy) -> None:
        self.sessions = sessionmaker(make_engine(url), expire_on_commit=False)
        self.projection = CoordinatorProjection(policy, consumer=CONSUMER)
        self.applied: list[tuple[str, bytes]] = []
        self._published: set[str] = set()

    def apply(self, subject: str, payload: bytes) -> None:
        sequence = len(self.applied) + 1
        with self.sessions() as session:
            checked = check_event(subject, payload)
            self.projection(session, checked, Delivery(subject, payload, {}, sequence, 1))
            session.add(InboxEntry(consumer=CONSUMER, event_id=checked.envelope.id, stream_sequence=sequence))
            session.commit()
        self.applied.append((subject, payload))

    def new_ticks(self) -> list[tuple[str, bytes]]:
        with self.sessions() as session:
            rows = session.execute(
                select(OutboxMessage.event_id, OutboxMessage.subject, OutboxMessage.payload)
                .where(OutboxMessage.event_type == TICK)
                .order_by(OutboxMessage.id)
            ).all()
        fresh = [
            (subject, payload.encode())
            for event_id, subject, payload in rows
            if event_id not in self._published
        ]
        self._published |= {row[0] for row in rows}
        return fresh

    def run(self, events: list[tuple[str, bytes]]) -> None:
        """Apply ``events`` and then every tick they cause, until none is left."""
        queue = deque(events)
        while queue:
            self.apply(*queue.popleft())
            queue.extend(self.new_ticks())

    def matches(self) -> list[tuple[str, str, str, Decimal, str]]:
        with self.sessions() as session:
            return [
                (m.id, m.need_id, m.offer_id, m.quantity, m.status.value)
                for m in session.scalars(select(Match).order_by(Match.id))
            ]

    def dirty(self) -> list[str]:
        with self.sessions() as session:
            return list(session.scalars(select(DirtyPartition.partition).order_by(DirtyPartition.partition)))


def _payloads(history: list[tuple[str, object]]) -> list[tuple[str, bytes]]:
    return [(subject, envelope.to_json()) for subject, envelope in history]  # type: ignore[attr-defined]


TICKED = MatchPolicy(resolve_at="tick")


def test_book_events_wait_for_one_tick_which_solves_them_fairly(
    service_database: Callable[[str], str],
) -> None:
    stream = Stream(service_database("coordinator"), TICKED)
    for subject, payload in _payloads(_history()):
        stream.apply(subject, payload)
    assert stream.matches() == []  # nothing solved yet: the book only
    assert stream.dirty() == ["training:610124"]
    ticks = stream.new_ticks()
    assert len(ticks) == 1  # one point for four book events: the others found it on its way
    stream.apply(*ticks[0])
    proposed = {need: quantity for _, need, _, quantity, status in stream.matches() if status == "proposed"}
    assert proposed == {"need-east": 10, "need-west": 10, "need-north": 10}  # max-min fair, as at once
    tick = check_event(*ticks[0]).data
    assert isinstance(tick, ClockTicked)
    with stream.sessions() as session:  # proposed at the point, under its cause
        assert {m.proposed_at for m in session.scalars(select(Match))} == {tick.at}
    assert stream.dirty() == [] and stream.new_ticks() == []


def test_the_recorded_stream_replays_to_the_same_matches(service_database: Callable[[str], str]) -> None:
    live = Stream(service_database("coordinator"), TICKED)
    history = _payloads(_history())
    live.run(history[:6])  # the course and one village: solved at a first point
    live.run(history[6:] + _payloads([_need("east", "need-east-2", 5)]))
    assert any(status == "proposed" for *_, status in live.matches())
    replayed = Stream(service_database("coordinator"), TICKED)
    for subject, payload in live.applied:  # the stream as recorded, ticks where they fell
        replayed.apply(subject, payload)
    assert replayed.matches() == live.matches()
    assert replayed.dirty() == live.dirty() == []


def test_a_point_solves_at_most_its_batch_and_asks_for_the_next(
    service_database: Callable[[str], str],
) -> None:
    stream = Stream(service_database("coordinator"), MatchPolicy(resolve_at="tick", resolve_batch=1))
    history = _payloads(
        [
            *_history(),
            factories.registered("buyer", kind="enterprise", name="收购公司"),
            _need("buyer", "need-fruit", 3, category="produce.fruit.kiwifruit", kind="enterprise"),
        ]
    )
    for subject, payload in history:
        stream.apply(subject, payload)
    assert stream.dirty() == ["produce:610124", "training:610124"]
    first = stream.new_ticks()
    assert len(first) == 1
    stream.apply(*first[0])
    assert stream.dirty() == ["produce:610124"]  # the older one solved; the next point asked for
    second = stream.new_ticks()
    assert len(second) == 1
    stream.apply(*second[0])
    assert stream.dirty() == [] and stream.new_ticks() == []
    assert {need for _, need, *_ in stream.matches()} == {"need-east", "need-west", "need-north"}


def test_resolving_at_events_is_unchanged_and_marks_nothing(service_database: Callable[[str], str]) -> None:
    stream = Stream(service_database("coordinator"), MatchPolicy())
    for subject, payload in _payloads(_history()):
        stream.apply(subject, payload)
    assert stream.dirty() == [] and stream.new_ticks() == []
    proposed = {need: quantity for _, need, _, quantity, status in stream.matches() if status == "proposed"}
    assert proposed == {"need-east": 10, "need-west": 10, "need-north": 10}
