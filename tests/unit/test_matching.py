"""Properties of the matching core on random instances (hypothesis), and worked examples."""

from collections import defaultdict
from datetime import date, timedelta

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from services.coordinator.matching import (
    Candidate,
    NeedItem,
    OfferItem,
    Party,
    allocate,
    candidates_for,
    greedy_allocate,
    objective,
)
from services.coordinator.matching.allocation import group_limits
from shared.regions import covers
from shared.taxonomy import can_serve
from shared.units import base_factor

TODAY = date(2026, 11, 23)
VILLAGES = ["610124104201", "610124104202", "610124105201", "610125101201"]
AREAS = ["610124", "610124104", "610125", "610100", "610124104201"]
CATEGORIES = [
    "training.livestream",
    "training",
    "produce.fruit.kiwifruit",
    "produce.fruit",
    "logistics.cold_chain",
]
UNITS = {"training": ["人", "seat"], "produce": ["kg", "t", "斤"], "logistics": ["t", "kg"]}


@st.composite
def instances(
    draw: st.DrawFn, max_needs: int = 6, max_offers: int = 5
) -> tuple[list[NeedItem], list[OfferItem]]:
    orgs = [
        Party(
            f"org{k}",
            draw(st.sampled_from(["community", "enterprise", "ngo"])),
            draw(st.sampled_from(VILLAGES)),
        )
        for k in range(4)
    ]
    needs = []
    for i in range(draw(st.integers(1, max_needs))):
        category = draw(st.sampled_from(CATEGORIES))
        start = TODAY + timedelta(days=draw(st.integers(-30, 60)))
        needs.append(
            NeedItem(
                id=f"n{i}",
                party=draw(st.sampled_from(orgs)),
                category=category,
                remaining=float(draw(st.integers(1, 40)) * 2),
                unit=draw(st.sampled_from(UNITS[category.split(".")[0]])),
                region=draw(st.sampled_from(VILLAGES)),
                window_start=start,
                window_end=start + timedelta(days=draw(st.integers(0, 90))),
            )
        )
    offers = []
    for j in range(draw(st.integers(1, max_offers))):
        category = draw(st.sampled_from(CATEGORIES))
        start = TODAY + timedelta(days=draw(st.integers(-30, 60)))
        eligibility = draw(
            st.one_of(
                st.none(),
                st.fixed_dictionaries(
                    {
                        "organisation_kinds": st.lists(
                            st.sampled_from(["community", "enterprise", "ngo"]), max_size=2
                        ),
                        "regions": st.lists(st.sampled_from(AREAS), max_size=2),
                        "required_certifications": st.just([]),
                        "max_amount": st.one_of(st.none(), st.integers(1, 20).map(lambda v: v * 2)),
                    }
                ),
            )
        )
        offers.append(
            OfferItem(
                id=f"o{j}",
                organisation_id=draw(st.sampled_from(orgs)).organisation_id,
                category=category,
                remaining=float(draw(st.integers(1, 40)) * 2),
                unit=draw(st.sampled_from(UNITS[category.split(".")[0]])),
                region=draw(st.sampled_from(VILLAGES)),
                service_area=tuple(draw(st.lists(st.sampled_from(AREAS), min_size=1, max_size=2))),
                window_start=start,
                window_end=start + timedelta(days=draw(st.integers(0, 90))),
                attributes={"eligibility": eligibility} if eligibility else {},
                fulfilment_rate=draw(st.sampled_from([0.25, 0.5, 0.9])),
            )
        )
    return needs, offers


# The base unit of a need or offer is what the solver works in; instances above use units
# whose base factor is 1 or 1000 or 0.5, so "remaining" is already a base-unit number.


def _used(allocations: list) -> tuple[dict, dict, dict]:
    need_used: dict[str, float] = defaultdict(float)
    offer_used: dict[str, float] = defaultdict(float)
    group_used: dict[tuple[str, str], float] = defaultdict(float)
    for a in allocations:
        need_used[a.candidate.need.id] += a.quantity
        offer_used[a.candidate.offer.id] += a.quantity
        group_used[(a.candidate.offer.id, a.candidate.need.party.organisation_id)] += a.quantity
    return need_used, offer_used, group_used


@settings(max_examples=150, deadline=None)
@given(instances())
def test_capacities_and_limits_are_never_exceeded(instance: tuple[list[NeedItem], list[OfferItem]]) -> None:
    needs, offers = instance
    candidates = candidates_for(needs, offers, today=TODAY)
    limits = group_limits(candidates, 0.5)
    for allocations in (allocate(candidates), greedy_allocate(candidates)):
        need_used, offer_used, group_used = _used(allocations)
        for need in needs:
            assert need_used[need.id] <= need.remaining + 1e-9
        for offer in offers:
            assert offer_used[offer.id] <= offer.remaining + 1e-9
        for key, limit in limits.items():
            assert group_used[key] <= limit + 1e-9


@settings(max_examples=150, deadline=None)
@given(instances())
def test_no_allocation_breaks_a_filter(instance: tuple[list[NeedItem], list[OfferItem]]) -> None:
    needs, offers = instance
    for allocation in allocate(candidates_for(needs, offers, today=TODAY)):
        need, offer = allocation.candidate.need, allocation.candidate.offer
        assert need.party.organisation_id != offer.organisation_id
        assert can_serve(offer.category, need.category)
        assert any(covers(area, need.region) for area in offer.service_area)
        assert base_factor(need.unit)[1] == base_factor(offer.unit)[1]
        assert need.window_start <= offer.window_end and offer.window_start <= need.window_end  # type: ignore[operator]
        rules = offer.eligibility
        if rules:
            assert not rules["organisation_kinds"] or need.party.kind in rules["organisation_kinds"]
            assert not rules["regions"] or any(covers(r, need.party.region) for r in rules["regions"])
            if rules["max_amount"]:
                given_to_org = sum(
                    a.quantity
                    for a in allocate(candidates_for(needs, offers, today=TODAY))
                    if a.candidate.offer.id == offer.id
                    and a.candidate.need.party.organisation_id == need.party.organisation_id
                )
                assert given_to_org <= rules["max_amount"] * base_factor(offer.unit)[0] + 1e-9


def _min_cost_flow_optimum(candidates: list[Candidate]) -> float:
    """The same problem as a min-cost flow (networkx network simplex), computed independently."""
    scale = 10**6
    graph = nx.DiGraph()
    limits = group_limits(candidates, 0.5)
    supply = 0
    for c in candidates:
        offer, need = c.offer, c.need
        group = ("group", offer.id, need.party.organisation_id)
        graph.add_edge("source", ("offer", offer.id), capacity=round(offer.remaining), weight=0)
        graph.add_edge(
            ("offer", offer.id), group, capacity=round(limits.get(group[1:], offer.remaining)), weight=0
        )
        graph.add_edge(
            group,
            ("need", need.id),
            capacity=round(min(need.remaining, offer.remaining)),
            weight=-round(c.score / need.remaining * scale),
        )
        graph.add_edge(("need", need.id), "sink", capacity=round(need.remaining), weight=0)
    supply = sum(round(o.remaining) for o in {c.offer.id: c.offer for c in candidates}.values())
    graph.add_edge("source", "sink", capacity=supply, weight=0)
    graph.nodes["source"]["demand"] = -supply
    graph.nodes["sink"]["demand"] = supply
    flow = nx.min_cost_flow(graph)
    return -nx.cost_of_flow(graph, flow) / scale


@settings(max_examples=150, deadline=None)
@given(instances(max_needs=5, max_offers=4))
def test_the_allocation_reaches_the_independent_optimum(
    instance: tuple[list[NeedItem], list[OfferItem]],
) -> None:
    needs, offers = instance
    # Integral instances: every limit is a whole number of base units, so the flow is exact.
    needs = [n for n in needs if base_factor(n.unit)[0] == 1]
    offers = [o for o in offers if base_factor(o.unit)[0] == 1 and o.max_per_organisation in (None,)]
    candidates = candidates_for(needs, offers, today=TODAY)
    if not candidates:
        return
    optimum = _min_cost_flow_optimum(candidates)
    reached = objective(allocate(candidates))
    assert abs(reached - optimum) <= 1e-3 * max(1.0, optimum)
    assert objective(greedy_allocate(candidates)) <= reached + 1e-6


@settings(max_examples=60, deadline=None)
@given(instances(), st.randoms())
def test_the_same_book_gives_the_same_matches_whatever_the_order(
    instance: tuple[list[NeedItem], list[OfferItem]], rnd: object
) -> None:
    needs, offers = instance
    first = allocate(candidates_for(needs, offers, today=TODAY))
    shuffled_needs, shuffled_offers = list(needs), list(offers)
    rnd.shuffle(shuffled_needs)  # type: ignore[attr-defined]
    rnd.shuffle(shuffled_offers)  # type: ignore[attr-defined]
    second = allocate(candidates_for(shuffled_needs, shuffled_offers, today=TODAY))

    def key(allocations: list) -> list:
        return [(a.candidate.need.id, a.candidate.offer.id, a.quantity, a.limited_by) for a in allocations]

    assert key(first) == key(second)


def test_a_buyers_need_is_pooled_from_several_villages() -> None:
    buyer = Party("buyer", "enterprise", "610124")
    need = NeedItem("need", buyer, "produce.fruit.kiwifruit", 3000.0, "t", "610124")
    lots = [
        OfferItem("lot-east", "east", "produce.fruit.kiwifruit", 1200.0, "t", "610124104201", ("610124",)),
        OfferItem("lot-west", "west", "produce.fruit.kiwifruit", 1000.0, "t", "610124104202", ("610124",)),
        OfferItem("lot-south", "south", "produce.fruit.kiwifruit", 1500.0, "斤", "610124105201", ("610124",)),
    ]
    allocations = allocate(candidates_for([need], lots, today=TODAY))
    assert sum(a.quantity for a in allocations) == 3000.0
    assert len(allocations) == 3


def test_fairness_cap_shares_a_course_between_villages() -> None:
    course = OfferItem("course", "ngo", "training.livestream", 30.0, "seat", "610124", ("610124",))
    needs = [
        NeedItem(
            "east",
            Party("east", "community", "610124104201"),
            "training.livestream",
            30.0,
            "人",
            "610124104201",
        ),
        NeedItem(
            "west",
            Party("west", "community", "610124104202"),
            "training.livestream",
            30.0,
            "人",
            "610124104202",
        ),
    ]
    allocations = allocate(candidates_for(needs, [course], today=TODAY), fairness_cap=0.5)
    assert sorted(a.quantity for a in allocations) == [15.0, 15.0]
    assert {a.limited_by for a in allocations} == {"fairness_cap"}
    greedy_first_come = allocate(candidates_for(needs, [course], today=TODAY), fairness_cap=1.0)
    assert sorted(a.quantity for a in greedy_first_come) in ([30.0], [0.0, 30.0])


def test_a_programme_refuses_an_ineligible_organisation() -> None:
    rules = {
        "organisation_kinds": ["community"],
        "regions": ["610124"],
        "required_certifications": ["green-food"],
        "max_amount": 20000,
    }
    subsidy = OfferItem(
        "subsidy",
        "bureau",
        "funding.subsidy",
        500000.0,
        "yuan",
        "610124",
        ("610124",),
        attributes={"eligibility": rules},
    )
    eligible = Party("coop", "community", "610124104201", frozenset({"green-food"}))
    no_cert = Party("other", "community", "610124104202")
    company = Party("firm", "enterprise", "610124", frozenset({"green-food"}))
    needs = [
        NeedItem(p.organisation_id, p, "funding.subsidy", 50000.0, "yuan", p.region)
        for p in (eligible, no_cert, company)
    ]
    allocations = allocate(candidates_for(needs, [subsidy], today=TODAY))
    assert [(a.candidate.need.id, a.quantity, a.limited_by) for a in allocations] == [
        ("coop", 20000.0, "programme_max")
    ]
