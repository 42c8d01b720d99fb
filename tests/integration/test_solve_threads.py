"""Partitions of one re-solve solved side by side (``COORDINATOR_SOLVE_THREADS``), on each
backend: the record — every match, every event in the outbox, in order — is the record of
solving them one after another, also where one course serves several counties and each
county's partition takes its seats from what the partitions before it left."""

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.coordinator.matches import service
from services.coordinator.matches.service import MatchPolicy
from shared.events.data import OfferData
from shared.messaging.models import OutboxMessage
from shared.metrics import MATCH_SOLVE_SECONDS
from tests import factories
from tests.integration.test_resolve_points import Stream, _payloads

COUNTIES = ["610124", "610125", "610126", "610127"]


def _city_course(seats: int, *, version: int = 1, area: str = "610100") -> tuple[str, object]:
    """The academy's course ``city`` for ``area`` (all of Xi'an: in each county's partition)."""
    data = OfferData(
        offer_id="city",
        organisation_id="academy",
        category="training.livestream",
        title="全市直播带货培训班",
        description="",
        quantity=Decimal(seats),
        unit="人",
        region="610102001001",
        service_area=[area],
        attributes={},
        version=version,
    )
    return factories.event("ngo", "academy", "offer", "published" if version == 1 else "updated", data)


def _history() -> list[tuple[str, object]]:
    """Four counties' villages ask for more seats than their own courses and one city-wide
    course hold: every partition is contested, and the city course is contested between them."""
    history = [factories.registered("academy", kind="ngo", name="市电商学院"), _city_course(25)]
    for k, county in enumerate(COUNTIES):
        history.append(factories.registered(f"station-{county}", kind="ngo", name="社工站"))
        history.append(factories.training_course(f"station-{county}", f"course-{county}", 8 + 3 * k, county))
        for v in range(3):
            village = f"{county}10{v}201"
            history.append(factories.registered(f"v-{county}-{v}", name="村委会"))
            history.append(
                factories.training_need(f"v-{county}-{v}", f"need-{county}-{v}", 6 + 4 * v, region=village)
            )
    return history


def _record(stream: Stream) -> list[tuple[str, str, str]]:
    """Every event the coordinator wrote, in order, but the re-solve points it asks for
    (each run asks for its own, stamped with the time it asks)."""
    with stream.sessions() as session:
        return [
            (row.event_id, row.subject, row.payload)
            for row in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
            if row.event_type != "sifang.clock.ticked.v1"
        ]


def test_side_by_side_solves_write_the_record_of_one_after_another(
    service_database: Callable[[str], str],
) -> None:
    one_by_one = Stream(service_database("coordinator"), MatchPolicy(resolve_at="tick", solve_threads=1))
    one_by_one.run(_payloads(_history()))
    side_by_side = Stream(service_database("coordinator"), MatchPolicy(resolve_at="tick", solve_threads=3))
    for subject, payload in one_by_one.applied:  # the same stream, ticks where they fell
        side_by_side.apply(subject, payload)
    assert one_by_one.dirty() == side_by_side.dirty() == []
    assert _record(side_by_side) == _record(one_by_one)
    matches = [one_by_one.matches(), side_by_side.matches()]
    assert matches[0] == matches[1]
    # the batch really was several partitions, and the shared course was split between them
    city = [m for m in matches[0] if m[2] == "city" and m[4] == "proposed"]
    assert len({need.split("-")[1] for _, need, *_ in city}) >= 2
    assert sum(quantity for *_, quantity, _ in city) == 25


def test_an_offer_that_leaves_a_partition_is_given_back_before_the_next_reads_it(
    service_database: Callable[[str], str],
) -> None:
    """A city course's 10 seats all go to a village of 610124; then the course serves 610125
    only. Re-solving both partitions, 610124 withdraws its proposal (the course left it) and
    610125 — whose book does not list the course under 610124 — must see the seats given back."""
    history = _payloads(
        [
            factories.registered("academy", kind="ngo", name="市电商学院"),
            _city_course(10),
            factories.registered("east", name="东村村委会"),
            factories.training_need("east", "need-east", 10, region="610124101201"),
            factories.registered("west", name="西村村委会"),
            factories.training_need("west", "need-west", 10, region="610125101201"),
            _city_course(10, version=2, area="610125"),
        ]
    )
    results = []
    for threads in (1, 3):
        stream = Stream(service_database("coordinator"), MatchPolicy(solve_threads=threads))
        stream.run(history)
        results.append(
            [(need, offer, quantity, status) for _, need, offer, quantity, status in stream.matches()]
        )
    assert results[1] == results[0]
    assert ("need-west", "city", 10, "proposed") in results[0]
    assert ("need-east", "city", 10, "withdrawn") in results[0]


def test_a_side_by_side_solve_that_fails_is_timed_and_fails_the_whole_re_solve(
    service_database: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A solve that raises (HiGHS refusing a programme, say) fails the re-solve point's
    transaction as one solve after another would, and its partition's time is still counted in
    ``sifang_match_solve_seconds``, as ``resolve`` counts it."""
    stream = Stream(service_database("coordinator"), MatchPolicy(resolve_at="tick", solve_threads=3))
    for subject, payload in _payloads(_history()):
        stream.apply(subject, payload)
    ticks = stream.new_ticks()
    dirty = stream.dirty()
    assert ticks and len(dirty) == len(COUNTIES)
    solve = service._solve

    def failing(book: service.PartitionBook, policy: MatchPolicy, today: date) -> object:
        if book.partition == dirty[1]:
            raise RuntimeError("allocation failed: HiGHS refused the programme")
        return solve(book, policy, today)

    monkeypatch.setattr(service, "_solve", failing)
    before = _observed()
    with pytest.raises(RuntimeError, match="HiGHS refused"):
        stream.apply(*ticks[0])
    # the first partition was written, the second raised when its result was taken
    assert _observed() - before == 2
    assert stream.dirty() == dirty and stream.matches() == []  # nothing of the point stayed


def _observed() -> float:
    """How many partition re-solves ``sifang_match_solve_seconds`` has counted."""
    return next(
        s.value for m in MATCH_SOLVE_SECONDS.collect() for s in m.samples if s.name.endswith("_count")
    )
