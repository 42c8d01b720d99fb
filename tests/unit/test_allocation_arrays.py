"""The allocation's array paths against their plain counterparts: the index built from the
rows the matrix filter found the pairs at against the index built from the pairs' ids, and
every offer's fair shares computed at once (``_limits``) against ``fair_shares`` one offer at a
time — on lots whose tonnes split freely as well as on courses shared in whole seats."""

import math
import subprocess
import sys
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.coordinator.matching import NeedItem, OfferItem, Party, allocate
from services.coordinator.matching.allocation import (
    COUNTED,
    EPSILON,
    FairSplit,
    _Indexed,
    _max_min_levels,
    _whole_shares,
    fair_shares,
    group_limits,
)
from services.coordinator.matching.candidates import candidate_pairs
from services.coordinator.matching.filters import Candidate, CandidatePairs
from tests.unit.test_matching import TODAY, VILLAGES, contested_instances, instances


@st.composite
def contested_lots(draw: st.DrawFn) -> tuple[list[NeedItem], list[OfferItem]]:
    """County-wide kiwifruit procurements by several buyers, more than the villages' lots
    hold: quantities in kg that split freely, some lots under a programme's cap per buyer."""
    buyers = [Party(f"buyer{k}", "enterprise", VILLAGES[k % 3]) for k in range(draw(st.integers(2, 5)))]
    needs = [
        NeedItem(
            id=f"n{i}",
            party=draw(st.sampled_from(buyers)),
            category="produce.fruit.kiwifruit",
            remaining=draw(st.integers(1, 9000)) / 7,
            unit="kg",
            region="610124",
            window_start=TODAY,
            window_end=TODAY + timedelta(days=30),
        )
        for i in range(draw(st.integers(2, 9)))
    ]
    offers = [
        OfferItem(
            id=f"o{j}",
            organisation_id=f"coop{j}",
            category="produce.fruit.kiwifruit",
            remaining=draw(st.integers(1, 6000)) / 3,
            unit="kg",
            region=draw(st.sampled_from(VILLAGES[:3])),
            service_area=("610124",),
            window_start=TODAY,
            window_end=TODAY + timedelta(days=30),
            attributes=draw(
                st.one_of(
                    st.just({}), st.integers(50, 900).map(lambda cap: {"eligibility": {"max_amount": cap}})
                )
            ),
        )
        for j in range(draw(st.integers(1, 5)))
    ]
    return needs, offers


def _one_offer_at_a_time(
    candidates: CandidatePairs, rule: FairSplit
) -> dict[tuple[str, str], tuple[str, float]]:
    """Each group's limit the way the allocation once found it: per offer, what each
    organisation asks, its ``fair_shares`` if the offer is contested, then the cap or the share."""
    asked: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    offers: dict[str, OfferItem] = {}
    for c in candidates:
        asked[c.offer.id][c.need.party.organisation_id] += c.need.remaining
        offers[c.offer.id] = c.offer
    limits: dict[tuple[str, str], tuple[str, float]] = {}
    for offer_id, demands in asked.items():
        offer = offers[offer_id]
        contested = len(demands) >= 2 and sum(demands.values()) > offer.remaining + EPSILON
        shares = (
            fair_shares(offer.remaining, demands, rule, whole=offer.dimension in COUNTED)
            if contested
            else demands
        )
        cap = offer.max_per_organisation
        for org, demand in demands.items():
            wanted = min(offer.remaining, demand)
            if cap is not None and cap < min(shares[org], wanted) - EPSILON:
                limits[(offer_id, org)] = ("programme_max", cap)
            elif shares[org] < wanted - EPSILON:
                limits[(offer_id, org)] = ("fair_share", shares[org])
    return limits


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(contested_lots(), contested_instances(), instances(max_needs=8, max_offers=6)),
    st.sampled_from(["max_min", "proportional"]),
)
def test_every_offers_fair_shares_at_once_are_the_shares_one_offer_at_a_time(
    instance: tuple[list[NeedItem], list[OfferItem]], rule: FairSplit
) -> None:
    needs, offers = instance
    candidates = candidate_pairs(needs, offers, today=TODAY)
    found = {key: (limit.kind, limit.limit) for key, limit in group_limits(candidates, rule).items()}
    expected = _one_offer_at_a_time(candidates, rule)
    assert found.keys() == expected.keys()
    for key, (kind, limit) in expected.items():
        assert found[key][0] == kind
        assert math.isclose(found[key][1], limit, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 40),  # seats
            st.lists(st.sampled_from([1, 2, 3, 5, 7, 7, 12, 30, 2.5, 6.5]), min_size=2, max_size=9),
        ),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from(["max_min", "proportional"]),
)
def test_whole_seats_of_several_offers_at_once_are_the_seats_one_offer_at_a_time(
    offers: list[tuple[int, list[float]]], rule: FairSplit
) -> None:
    # repeated demands tie for the seats left over: the lowest organisation id takes them first
    contested = [(seats, asks) for seats, asks in offers if sum(asks) > seats]
    offer_of = np.array([j for j, (_, asks) in enumerate(contested) for _ in asks], dtype=np.int64)
    demand = np.array([ask for _, asks in contested for ask in asks], dtype=np.float64)
    capacity = np.array([float(seats) for seats, _ in contested])
    found = _whole_shares(offer_of, demand, capacity, rule).tolist() if contested else []
    expected = []
    for seats, asks in contested:
        shares = fair_shares(
            float(seats), {f"org{k:02d}": ask for k, ask in enumerate(asks)}, rule, whole=True
        )
        expected += [float(shares[f"org{k:02d}"]) for k in range(len(asks))]
    assert found == expected


def test_seats_left_over_go_to_the_largest_unmet_demand_then_the_lowest_id() -> None:
    # 10 seats asked 7, 7 and 5: levels 3⅓ each → 3 each and one seat over, to the first 7
    shares = _whole_shares(np.array([0, 0, 0]), np.array([7.0, 7.0, 5.0]), np.array([10.0]), "max_min")
    assert shares.tolist() == [4.0, 3.0, 3.0]
    # 5 seats asked 30 and 1: the second takes its one, the first all four others
    shares = _whole_shares(np.array([0, 0]), np.array([30.0, 1.0]), np.array([5.0]), "max_min")
    assert shares.tolist() == [4.0, 1.0]


def test_water_levels_of_several_offers_at_once() -> None:
    # offer 0: 30 seats asked for 15, 10, 12 → 10 each; offer 1: 40 t asked for 5, 30, 30 →
    # 5 and 17.5 twice; offer 2: 9 asked for 2 and 3 (not contested: each what it asks)
    offer_of = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    demand = np.array([15.0, 10.0, 12.0, 30.0, 5.0, 30.0, 2.0, 3.0])
    shares = _max_min_levels(offer_of, demand, np.array([30.0, 40.0, 9.0]))
    assert shares.tolist() == pytest.approx([10, 10, 10, 17.5, 5, 17.5, 2, 3])


@settings(max_examples=150, deadline=None)
@given(st.one_of(contested_lots(), contested_instances(), instances(max_needs=8, max_offers=6)))
def test_the_index_from_the_filters_rows_is_the_index_by_ids(
    instance: tuple[list[NeedItem], list[OfferItem]],
) -> None:
    needs, offers = instance
    pairs = candidate_pairs(needs, offers, today=TODAY, keep=3)
    plain: list[Candidate] = list(pairs)
    from_rows, by_ids = _Indexed.of(pairs), _Indexed.of(plain)
    assert [n.id for n in from_rows.needs] == [n.id for n in by_ids.needs]
    assert [o.id for o in from_rows.offers] == [o.id for o in by_ids.offers]
    assert from_rows.groups == by_ids.groups
    for name in ("need_of", "offer_of", "group_of", "group_offer", "size", "score"):
        assert np.array_equal(getattr(from_rows, name), getattr(by_ids, name)), name
    assert [
        (a.candidate.need.id, a.candidate.offer.id, a.quantity, a.limited_by) for a in allocate(pairs)
    ] == [(a.candidate.need.id, a.candidate.offer.id, a.quantity, a.limited_by) for a in allocate(plain)]


def test_the_rows_must_match_the_candidates() -> None:
    with pytest.raises(ValueError, match="one row of each kind"):
        CandidatePairs(
            (),
            needs=[],
            offers=[],
            need_rows=np.zeros(1, dtype=np.int64),
            offer_rows=np.zeros(0, dtype=np.int64),
            scores=np.zeros(0),
        )


def test_a_need_left_with_a_rounding_residue_is_solved_around() -> None:
    """16.1 t is 16100.000000000002 kg; a proposal of 16100 kg accepted leaves 1.8e-12 of the
    need, a coefficient HiGHS drops with a warning: the rest is still allocated."""
    buyer = Party("buyer", "enterprise", VILLAGES[0])
    other = Party("other", "enterprise", VILLAGES[1])
    residue = 16.1 * 1000 - 16100.0
    needs = [
        NeedItem("n-residue", buyer, "produce.fruit.kiwifruit", residue, "t", "610124"),
        NeedItem("n-whole", other, "produce.fruit.kiwifruit", 5000.0, "kg", "610124"),
    ]
    offers = [OfferItem("lot", "coop", "produce.fruit.kiwifruit", 20000.0, "kg", VILLAGES[2], ("610124",))]
    assert 0 < residue < 1e-9
    allocations = allocate(candidate_pairs(needs, offers, today=TODAY))
    assert [(a.candidate.need.id, a.quantity) for a in allocations] == [("n-whole", 5000.0)]


def test_a_solve_writes_nothing_on_standard_output() -> None:
    """The coordinator's and ``sifang replay``'s output is their own: no solver banner (a fresh
    interpreter, since a banner would come only with the first solver made)."""
    script = (
        "from tests.unit.test_allocation_arrays import _two_buyers_one_lot\n"
        "from services.coordinator.matching import allocate\n"
        "assert allocate(_two_buyers_one_lot())\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=root
    )
    assert done.stdout == ""


def _two_buyers_one_lot() -> CandidatePairs:
    buyers = [Party(f"buyer{k}", "enterprise", VILLAGES[k]) for k in range(2)]
    needs = [NeedItem(f"n{k}", buyers[k], "produce.fruit.kiwifruit", 800.0, "kg", "610124") for k in range(2)]
    offers = [OfferItem("lot", "coop", "produce.fruit.kiwifruit", 1000.0, "kg", VILLAGES[2], ("610124",))]
    return candidate_pairs(needs, offers, today=TODAY)
