"""A batch of events read ahead (publishers, listings, market cells in one query each) and its
journal written at the commit reaches exactly the state that applying the same events one at a
time reaches, on each backend, whatever the batch holds: a listing published and changed in
the same batch, versions out of order, a withdrawal, an organisation registered after its first
need, a publisher never registered, cells new and old."""

from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection

from services.coordinator.app import CoordinatorSettings, stakeholder_consumer
from services.coordinator.book.models import BookNeed, BookOffer
from services.coordinator.market.models import MarketCell
from services.coordinator.matches.service import ResolveAt
from shared.app import build_runtime
from shared.events.data import NeedData, OfferData, OfferWithdrawn
from shared.events.envelope import CloudEvent
from shared.messaging.consumer import Delivery, EventConsumer, Outcome
from sifang.replay_compare import COORDINATOR_TABLES, compare_databases
from tests import factories

Event = tuple[str, CloudEvent]


def _course(org: str, offer_id: str, seats: int, county: str, version: int = 1) -> Event:
    subject, envelope = factories.training_course(org, offer_id, seats, county)
    data = OfferData.model_validate(envelope.data)
    if version == 1:
        return subject, envelope
    changed = data.model_copy(update={"version": version, "quantity": Decimal(seats)})
    return factories.event("ngo", org, "offer", "updated", changed, region=changed.region)


def _need(org: str, need_id: str, persons: int, *, version: int = 1, county: str = "610124") -> Event:
    data = NeedData.model_validate(factories.training_need(org, need_id, persons)[1].data)
    data = data.model_copy(update={"version": version, "region": f"{county}104201"})
    verb = "published" if version == 1 else "updated"
    return factories.event("community", org, "need", verb, data, region=data.region)


def _lot(org: str, offer_id: str) -> Event:
    return factories.event("community", org, "offer", "published", factories.offer_data(org, offer_id))


def _lot_withdrawn(org: str, offer_id: str) -> Event:
    data = OfferWithdrawn(offer_id=offer_id, organisation_id=org, reason="已售出", version=1)
    return factories.event("community", org, "offer", "withdrawn", data)


def _history() -> tuple[list[Event], list[Event]]:
    """Two batches: the second changes what the first left in the book and the market."""
    first = [
        factories.registered("org-village"),
        factories.registered("org-ngo", kind="ngo"),
        _need("org-village", "need-a", 20),
        _need("org-village", "need-a", 25, version=2),  # changed in the batch that publishes it
        _need("org-village", "need-b", 10),
        factories.need_withdrawn("org-village", "need-b", version=1),  # and one withdrawn in it
        _need("org-village", "need-c", 12, version=2),  # before its version 1: held …
        _need("org-village", "need-c", 8),  # … and released by it, in the same batch
        _course("org-ngo", "course-a", 30, "610124"),
        _course("org-ngo", "course-a", 18, "610124", version=2),
        _need("org-late", "need-late", 6),  # its publisher registers later in the batch
        factories.registered("org-late"),
        _need("org-never", "need-orphan", 4),  # never registered: held for good
        _lot("org-village", "lot-a"),
    ]
    second = [
        _need("org-village", "need-a", 40, version=3),  # in the book since the first batch
        factories.need_withdrawn("org-village", "need-c", version=2),
        _course("org-ngo", "course-a", 12, "610124", version=3),
        _need("org-late", "need-elsewhere", 9, county="610125"),  # a county with no cell yet
        _course("org-ngo", "course-b", 20, "610125"),
        _lot_withdrawn("org-village", "lot-a"),
        _need("org-village", "need-a", 30, version=2),  # a late copy of an older version
    ]
    return first, second


def _consumer(url: str, resolve_at: ResolveAt) -> EventConsumer:
    settings = CoordinatorSettings(database_url=url, resolve_at=resolve_at)
    return stakeholder_consumer(settings, build_runtime(settings))


def _deliveries(events: list[Event], start: int) -> list[Delivery]:
    return [Delivery(s, e.to_json(), {}, start + k, 1) for k, (s, e) in enumerate(events)]


@pytest.mark.parametrize("resolve_at", ["event", "tick"])
def test_a_batch_read_ahead_reaches_the_state_of_one_event_at_a_time(
    service_database: Callable[[str], str], resolve_at: ResolveAt
) -> None:
    first, second = _history()
    batched_url, alone_url = service_database("coordinator"), service_database("coordinator")
    batched, alone = _consumer(batched_url, resolve_at), _consumer(alone_url, resolve_at)

    statements: list[str] = []

    def seen(_c: Connection, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(" ".join(statement.split()))

    engine = batched._session_factory.kw["bind"]
    for part, start in ((first, 1), (second, 100)):
        statements.clear()
        event.listen(engine, "before_cursor_execute", seen)
        outcomes = batched.process_batch(_deliveries(part, start))
        event.remove(engine, "before_cursor_execute", seen)
        assert outcomes == [Outcome.APPLIED] * len(part)  # applied as one batch, not one by one
    # The second batch's publishers, listings and cells were all read ahead (the new ones as
    # missing): none was looked up on its own, by its key.
    by_key = ("WHERE registry_organisations.id =", "WHERE book_needs.id =", "WHERE book_offers.id =")
    looked_up = [s for s in statements if s.startswith("SELECT") and any(k in s for k in by_key)]
    looked_up += [s for s in statements if s.startswith("SELECT market_cells.county") and "= " in s]
    assert looked_up == []
    for part, start in ((first, 1), (second, 100)):
        for delivery in _deliveries(part, start):
            assert alone.process(delivery) is Outcome.APPLIED

    report = compare_databases(batched_url, alone_url, COORDINATOR_TABLES)
    assert {name: r for name, r in report.items() if not r["identical"]} == {}
    with alone._session_factory() as session:
        # what the history was meant to leave, so that "identical" is not two empty databases
        needs = {n.id: (n.status, n.version, n.quantity) for n in session.scalars(select(BookNeed))}
        assert needs["need-a"] == ("open", 3, Decimal(40))
        assert needs["need-b"][0] == needs["need-c"][0] == "withdrawn"
        assert {"need-late", "need-elsewhere"} <= needs.keys() and "need-orphan" not in needs
        assert session.get(BookOffer, "course-a").quantity == Decimal(12)  # type: ignore[union-attr]
        assert session.get(BookOffer, "lot-a").status == "withdrawn"  # type: ignore[union-attr]
        assert {c.county for c in session.scalars(select(MarketCell))} == {"610124", "610125"}
        assert session.scalar(select(func.count()).select_from(MarketCell)) >= 3
