"""The cyclic collector is paused while a solve runs, and resumes as it was."""

import gc
import threading
from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from services.coordinator.matching import NeedItem, OfferItem, Party, allocate
from services.coordinator.matching.candidates import candidate_pairs
from shared.collector import collection_paused

TODAY = date(2026, 11, 23)


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generations of the collections that start while the test runs."""
    started: list[int] = []

    def probe(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.enable()
    gc.callbacks.append(probe)
    yield started
    gc.callbacks.remove(probe)


def _book(size: int) -> tuple[list[NeedItem], list[OfferItem]]:
    window = {"window_start": TODAY, "window_end": TODAY + timedelta(days=30)}
    needs = [
        NeedItem(
            id=f"n{i:04d}",
            party=Party(f"village{i:04d}", "community", "610124104201"),
            category="training.livestream",
            remaining=float(5 + i % 20),
            unit="人",
            region="610124104201",
            **window,
        )
        for i in range(size)
    ]
    offers = [
        OfferItem(
            id=f"o{j:04d}",
            organisation_id=f"trainer{j:04d}",
            category="training.livestream",
            remaining=float(10 + j % 30),
            unit="人",
            region="610124104",
            service_area=("610124",),
            **window,
        )
        for j in range(size)
    ]
    return needs, offers


def test_a_solve_starts_no_collection_until_it_ends(collections: list[int]) -> None:
    needs, offers = _book(150)
    collections.clear()  # building the book may start some
    candidates = candidate_pairs(needs, offers, today=TODAY, keep=16)
    during_filter = len(collections)  # len() allocates nothing, so it starts none itself
    allocations = allocate(candidates)
    during_allocation = len(collections) - during_filter
    assert len(candidates) > 2_000 and allocations  # enough new objects to start many collections
    # at most the one that starts as the collector resumes at the end of each call
    assert during_filter <= 1 and during_allocation <= 1, collections
    assert gc.isenabled()


def test_pauses_nest_overlap_between_threads_and_restore_what_was_there() -> None:
    gc.enable()
    inner_done, outer_may_end = threading.Event(), threading.Event()

    def other_thread() -> None:
        with collection_paused():
            inner_done.set()
            outer_may_end.wait(5)

    with collection_paused():
        assert not gc.isenabled()
        with collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause ending does not resume it
        worker = threading.Thread(target=other_thread)
        worker.start()
        inner_done.wait(5)
    assert not gc.isenabled()  # the other thread still pauses it
    outer_may_end.set()
    worker.join(5)
    assert gc.isenabled()

    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()  # it was not running before, so it is not started
    finally:
        gc.enable()
