"""Properties of the matching core on random instances (hypothesis), and worked examples."""

import math
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
from services.coordinator.matching.allocation import Allocation, FairSplit, fair_shares, group_limits
from services.coordinator.matching.candidates import candidate_pairs
from services.coordinator.matching.diagnosis import nearest_offers
from services.coordinator.matching.filters import first_failure, region_rule
from shared.regions import covers
from shared.taxonomy import can_serve
from shared.units import base_factor

TODAY = date(2026, 11, 23)
VILLAGES = ["610124104201", "610124104202", "610124105201", "610125101201"]
AREAS = ["610124", "610124104", "610125", "610100", "610124104201", "610000"]
# a need may lie anywhere from a village to the province (a county-wide procurement sources
# produce from the whole county); an offer from a village, a township or a county
NEED_REGIONS = [*VILLAGES, "610124104", "610124", "610100", "610000"]
OFFER_REGIONS = [*VILLAGES, "610124104", "610124"]
CATEGORIES = [
    "training.livestream",
    "training",
    "produce.fruit.kiwifruit",
    "produce.fruit",
    "logistics.cold_chain",
]
UNITS = {"training": ["人", "seat"], "produce": ["kg", "t", "斤"], "logistics": ["t", "kg"]}
CERTS = ["green-food", "organic"]
GRADES = ["一级", "特级"]


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
                region=draw(st.sampled_from(NEED_REGIONS)),
                window_start=start,
                window_end=start + timedelta(days=draw(st.integers(0, 90))),
                attributes=draw(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "required_certifications": st.lists(st.sampled_from(CERTS), max_size=1),
                            "preferred_certifications": st.lists(st.sampled_from(CERTS), max_size=2),
                            "required_grade": st.sampled_from(GRADES),
                            "preferred_grade": st.sampled_from(GRADES),
                        },
                    )
                ),
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
                region=draw(st.sampled_from(OFFER_REGIONS)),
                service_area=tuple(draw(st.lists(st.sampled_from(AREAS), min_size=1, max_size=2))),
                window_start=start,
                window_end=start + timedelta(days=draw(st.integers(0, 90))),
                attributes=({"eligibility": eligibility} if eligibility else {})
                | draw(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "certifications": st.lists(st.sampled_from(CERTS), max_size=2),
                            "grade": st.sampled_from(GRADES),
                        },
                    )
                ),
                fulfilment_rate=draw(st.sampled_from([0.25, 0.5, 0.9])),
            )
        )
    return needs, offers


@st.composite
def contested_instances(draw: st.DrawFn) -> tuple[list[NeedItem], list[OfferItem]]:
    """Training courses in one county, asked for by several organisations at once: most
    courses are contested, and an organisation often has its needs covered by another course
    too, so the fair phase leaves contested seats idle for the leftover phase."""
    orgs = [Party(f"org{k}", "community", VILLAGES[k % 3]) for k in range(4)]
    needs = [
        NeedItem(
            id=f"n{i}",
            party=draw(st.sampled_from(orgs)),
            category="training.livestream",
            remaining=float(draw(st.integers(1, 25))),
            unit="人",
            region=draw(st.sampled_from(VILLAGES[:3])),
            window_start=TODAY,
            window_end=TODAY + timedelta(days=30),
        )
        for i in range(draw(st.integers(2, 7)))
    ]
    offers = [
        OfferItem(
            id=f"o{j}",
            organisation_id="trainer",
            category="training.livestream",
            remaining=float(draw(st.integers(1, 30))),
            unit="人",
            region=draw(st.sampled_from(VILLAGES[:3])),
            service_area=("610124",),
            window_start=TODAY,
            window_end=TODAY + timedelta(days=30),
            attributes=draw(
                st.one_of(
                    st.just({}),
                    st.integers(2, 12).map(lambda cap: {"eligibility": {"max_amount": cap}}),
                )
            ),
            fulfilment_rate=draw(st.sampled_from([0.25, 0.5, 0.9])),
        )
        for j in range(draw(st.integers(1, 4)))
    ]
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
@given(instances(), st.sampled_from(["max_min", "proportional"]))
def test_capacities_programme_caps_and_fair_shares_hold(
    instance: tuple[list[NeedItem], list[OfferItem]], rule: FairSplit
) -> None:
    needs, offers = instance
    candidates = candidates_for(needs, offers, today=TODAY)
    limits = group_limits(candidates, rule)
    for allocations in (allocate(candidates, fair_split=rule), greedy_allocate(candidates, fair_split=rule)):
        need_used, offer_used, group_used = _used(allocations)
        for need in needs:
            assert need_used[need.id] <= need.remaining + 1e-9
        for offer in offers:
            assert offer_used[offer.id] <= offer.remaining + 1e-9
        for (offer_id, org), limit in limits.items():
            if limit.kind == "programme_max":
                assert group_used[(offer_id, org)] <= limit.limit + 1e-9
                continue
            # fair: the organisation got its share of the offer, unless its needs that could
            # draw on the offer are covered
            its_needs = [
                c.need for c in candidates if c.offer.id == offer_id and c.need.party.organisation_id == org
            ]
            covered = all(need_used[n.id] >= n.remaining - 1e-3 for n in its_needs)
            assert group_used[(offer_id, org)] >= limit.limit - 1e-3 or covered


@settings(max_examples=150, deadline=None)
@given(instances())
def test_no_allocation_breaks_a_filter(instance: tuple[list[NeedItem], list[OfferItem]]) -> None:
    needs, offers = instance
    allocations = allocate(candidates_for(needs, offers, today=TODAY))
    _, _, group_used = _used(allocations)
    for allocation in allocations:
        need, offer = allocation.candidate.need, allocation.candidate.offer
        assert need.party.organisation_id != offer.organisation_id
        assert can_serve(offer.category, need.category)
        if need.category.startswith("produce"):
            assert covers(need.region, offer.region)  # produce comes from the need's region
        else:
            assert any(covers(area, need.region) for area in offer.service_area)
        assert base_factor(need.unit)[1] == base_factor(offer.unit)[1]
        assert need.window_start <= offer.window_end and offer.window_start <= need.window_end  # type: ignore[operator]
        assert need.window_end >= TODAY and offer.window_end >= TODAY  # type: ignore[operator]
        required = set(need.attributes.get("required_certifications", []))
        assert required <= set(offer.attributes.get("certifications", []))
        if "required_grade" in need.attributes:
            assert offer.attributes.get("grade") == need.attributes["required_grade"]
        rules = offer.eligibility
        if rules:
            assert not rules["organisation_kinds"] or need.party.kind in rules["organisation_kinds"]
            assert not rules["regions"] or any(covers(r, need.party.region) for r in rules["regions"])
            if rules["max_amount"]:
                given_to_org = group_used[(offer.id, need.party.organisation_id)]
                assert given_to_org <= rules["max_amount"] * base_factor(offer.unit)[0] + 1e-9


def _min_cost_flow_optimum(candidates: list[Candidate]) -> float:
    """The same problem as a min-cost flow (networkx network simplex), computed independently."""
    scale = 10**6
    graph = nx.DiGraph()
    limits = {key: limit.limit for key, limit in group_limits(candidates, "max_min").items()}
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
def test_the_fair_phase_reaches_the_independent_optimum(
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
    fair_phase = objective(allocate(candidates, leftovers=False))
    assert abs(fair_phase - optimum) <= 1e-3 * max(1.0, optimum)
    assert objective(allocate(candidates)) >= fair_phase - 1e-6  # the leftovers only add
    assert objective(greedy_allocate(candidates, leftovers=False)) <= fair_phase + 1e-6


def _leftover_optimum(candidates: list[Candidate], fair_phase: list[Allocation]) -> float:
    """What the capacity the fair phase left can still add, as a min-cost flow (networkx)
    over every pair, with what the fair phase gave taken off each need, offer and programme
    cap — computed independently of the second phase's own reduced problem."""
    need_used, offer_used, group_used = _used(fair_phase)
    programme = {
        key: limit.limit
        for key, limit in group_limits(candidates, "max_min").items()
        if limit.kind == "programme_max"
    }
    step, scale = 10**4, 10**6  # capacities in 1e-4 base units, costs in 1e-6 of a score
    graph = nx.DiGraph()
    for c in candidates:
        offer, need = c.offer, c.need
        key = (offer.id, need.party.organisation_id)
        need_room = round((need.remaining - need_used[need.id]) * step)
        offer_room = round((offer.remaining - offer_used[offer.id]) * step)
        group_room = round((programme[key] - group_used[key]) * step) if key in programme else offer_room
        graph.add_edge("source", ("offer", offer.id), capacity=max(0, offer_room), weight=0)
        graph.add_edge(("offer", offer.id), ("group", *key), capacity=max(0, group_room), weight=0)
        graph.add_edge(
            ("group", *key),
            ("need", need.id),
            capacity=max(0, min(need_room, offer_room)),
            weight=-round(c.score / need.remaining / step * scale * step),
        )
        graph.add_edge(("need", need.id), "sink", capacity=max(0, need_room), weight=0)
    supply = sum(data["capacity"] for _, _, data in graph.out_edges("source", data=True))
    graph.add_edge("source", "sink", capacity=supply, weight=0)
    graph.nodes["source"]["demand"] = -supply
    graph.nodes["sink"]["demand"] = supply
    flow = nx.min_cost_flow(graph)
    return -nx.cost_of_flow(graph, flow) / scale / step


@settings(max_examples=200, deadline=None)
@given(st.one_of(instances(max_needs=5, max_offers=4), contested_instances()))
def test_the_leftover_phase_adds_the_independent_optimum_of_what_the_fair_phase_left(
    instance: tuple[list[NeedItem], list[OfferItem]],
) -> None:
    """The second phase solves only the pairs whose need still lacks and whose offer still has
    something; what it adds must be the best that any use of the leftover capacity could add."""
    needs, offers = instance
    candidates = candidates_for(needs, offers, today=TODAY)
    if not candidates:
        return
    fair_phase = allocate(candidates, leftovers=False)
    added = objective(allocate(candidates)) - objective(fair_phase)
    optimum = _leftover_optimum(candidates, fair_phase)
    assert added <= optimum + 1e-3 * max(1.0, optimum)
    # the second phase may only stop short where the fair phase left nothing contested idle
    assert added >= optimum - 1e-3 * max(1.0, optimum) or not _contested_capacity_idle(candidates, fair_phase)


def _contested_capacity_idle(candidates: list[Candidate], allocations: list[Allocation]) -> bool:
    need_used, offer_used, _ = _used(allocations)
    fair = {
        key[0] for key, limit in group_limits(candidates, "max_min").items() if limit.kind == "fair_share"
    }
    return any(
        c.offer.id in fair
        and offer_used[c.offer.id] < c.offer.remaining - 1e-4
        and need_used[c.need.id] < c.need.remaining - 1e-4
        for c in candidates
    )


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


def _village_needs(demands: dict[str, float]) -> list[NeedItem]:
    return [
        NeedItem(
            name,
            Party(name, "community", f"61012410420{k}"),
            "training.livestream",
            seats,
            "人",
            f"61012410420{k}",
        )
        for k, (name, seats) in enumerate(demands.items(), start=1)
    ]


def test_a_contested_course_is_split_max_min_fair() -> None:
    course = OfferItem("course", "ngo", "training.livestream", 30.0, "seat", "610124", ("610124",))
    needs = _village_needs({"east": 15.0, "west": 10.0, "north": 12.0})
    allocations = allocate(candidates_for(needs, [course], today=TODAY))
    got = {a.candidate.need.id: a.quantity for a in allocations}
    assert got == {"east": 10.0, "west": 10.0, "north": 10.0}
    assert {a.candidate.need.id: a.limited_by for a in allocations} == {
        "east": "fair_share",
        "west": "need",
        "north": "fair_share",
    }
    east = next(a for a in allocations if a.candidate.need.id == "east")
    assert east.fair is not None and (east.fair.limit, east.fair.organisations, east.fair.demand) == (
        10.0,
        3,
        15.0,
    )


def test_a_proportional_split_gives_whole_seats_in_proportion() -> None:
    course = OfferItem("course", "ngo", "training.livestream", 30.0, "seat", "610124", ("610124",))
    needs = _village_needs({"east": 15.0, "west": 10.0, "north": 12.0})
    allocations = allocate(candidates_for(needs, [course], today=TODAY), fair_split="proportional")
    # 30 × 15/37 = 12.2, × 10/37 = 8.1, × 12/37 = 9.7 → 12, 8, 9 and the spare seat to the
    # largest unmet demand (east and north lack 3 each; "east" < "north")
    assert {a.candidate.need.id: a.quantity for a in allocations} == {"east": 13.0, "west": 8.0, "north": 9.0}


def test_fair_shares_by_hand() -> None:
    assert fair_shares(30, {"a": 15, "b": 10, "c": 12}, "max_min") == {"a": 10, "b": 10, "c": 10}
    assert fair_shares(30, {"a": 15, "b": 5, "c": 30}, "max_min") == {"a": 12.5, "b": 5, "c": 12.5}
    assert fair_shares(31, {"a": 15, "b": 5, "c": 30}, "max_min", whole=True) == {"a": 13, "b": 5, "c": 13}
    assert fair_shares(20, {"a": 30, "b": 10}, "proportional") == {"a": 15, "b": 5}
    assert fair_shares(50, {"a": 30, "b": 10}, "max_min") == {"a": 30, "b": 10}  # not contested


def _whole_shares_one_unit_at_a_time(
    capacity: float, demands: dict[str, float], shares: dict[str, float]
) -> dict[str, float]:
    """The whole-unit rule as stated, the slow way: floor every share, then hand out each unit
    left over to the organisation with the largest unmet demand (ties: the lowest id)."""
    whole = {org: math.floor(share + 1e-7) for org, share in shares.items()}
    spare = math.floor(capacity + 1e-7) - sum(whole.values())
    while spare > 0:
        wanting = [o for o in whole if whole[o] + 1 <= demands[o] + 1e-7]
        if not wanting:
            break
        org = min(wanting, key=lambda o: (-(demands[o] - whole[o]), o))
        whole[org] += 1
        spare -= 1
    return whole


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from([f"org{k}" for k in range(12)]), st.integers(1, 60), min_size=2),
    st.integers(1, 300),
    st.sampled_from(["max_min", "proportional"]),
)
def test_whole_unit_shares_hand_out_leftover_units_by_largest_unmet_demand(
    asked: dict[str, int], capacity: int, rule: FairSplit
) -> None:
    demands = {org: float(d) for org, d in asked.items()}
    shares = fair_shares(float(capacity), demands, rule, whole=True)
    if sum(demands.values()) <= capacity:  # not contested: everyone gets what it asked for
        assert shares == demands
    else:
        exact = fair_shares(float(capacity), demands, rule)
        assert shares == _whole_shares_one_unit_at_a_time(float(capacity), demands, exact)
        assert sum(shares.values()) == capacity


def test_a_share_left_by_a_village_covered_elsewhere_goes_to_the_others() -> None:
    shared = OfferItem("shared", "ngo", "training.livestream", 30.0, "seat", "610124", ("610124",))
    own = OfferItem("own", "ngo2", "training.livestream", 20.0, "seat", "610124104201", ("610124104201",))
    needs = _village_needs({"east": 20.0, "west": 20.0})  # east is 610124104201, only it can use "own"
    allocations = allocate(candidates_for(needs, [shared, own], today=TODAY))
    received: dict[str, float] = defaultdict(float)
    for a in allocations:
        received[a.candidate.need.id] += a.quantity
    assert received == {"east": 20.0, "west": 20.0}  # west takes more than its share of 15
    fair_only = allocate(candidates_for(needs, [shared, own], today=TODAY), leftovers=False)
    assert sum(a.quantity for a in fair_only if a.candidate.need.id == "west") == 15.0


def test_a_required_certification_is_a_filter_and_a_preferred_one_a_score() -> None:
    buyer = Party("buyer", "enterprise", "610124")
    need = NeedItem(
        "need",
        buyer,
        "produce.fruit.kiwifruit",
        1000.0,
        "kg",
        "610124",
        attributes={"required_certifications": ["organic"], "preferred_certifications": ["green-food"]},
    )
    organic = OfferItem(
        "organic",
        "east",
        "produce.fruit.kiwifruit",
        500.0,
        "kg",
        "610124104201",
        ("610124104201",),
        attributes={"certifications": ["organic"]},
    )
    plain = OfferItem(
        "plain",
        "west",
        "produce.fruit.kiwifruit",
        2000.0,
        "kg",
        "610124104202",
        ("610124104202",),
        attributes={"certifications": ["green-food"]},
    )
    allocations = allocate(candidates_for([need], [organic, plain], today=TODAY))
    assert [(a.candidate.offer.id, a.quantity) for a in allocations] == [("organic", 500.0)]
    failed = first_failure(need, plain, TODAY)
    assert failed is not None and failed.as_dict() == {
        "code": "missing_certifications",
        "params": {"missing": ["organic"]},
    }
    both = OfferItem(
        "both",
        "south",
        "produce.fruit.kiwifruit",
        500.0,
        "kg",
        "610124104203",
        ("610124104203",),
        attributes={"certifications": ["organic", "green-food"]},
    )
    scores = {c.offer.id: c.terms["quality"] for c in candidates_for([need], [organic, both], today=TODAY)}
    assert scores == {"organic": 0.0, "both": 1.0}


def test_a_price_ceiling_compares_after_converting_units() -> None:
    buyer = Party("buyer", "enterprise", "610124")
    need = NeedItem(
        "need", buyer, "produce.fruit.kiwifruit", 1000.0, "kg", "610124", attributes={"price_max": 8}
    )
    per_jin = OfferItem(  # 4 yuan per 斤 = 8 yuan per kg: within
        "jin",
        "east",
        "produce.fruit.kiwifruit",
        500.0,
        "斤",
        "610124104201",
        ("610124104201",),
        attributes={"price_per_unit": 4},
    )
    dear = OfferItem(
        "dear",
        "west",
        "produce.fruit.kiwifruit",
        500.0,
        "kg",
        "610124104202",
        ("610124104202",),
        attributes={"price_per_unit": "9.5"},
    )
    assert first_failure(need, per_jin, TODAY) is None
    failed = first_failure(need, dear, TODAY)
    assert failed is not None and failed.code == "price_above_max" and failed.params["price"] == "9.50"


def test_a_county_procurement_takes_lots_from_any_village_of_the_county() -> None:
    assert region_rule("produce.fruit.kiwifruit") == "origin" and region_rule("training") == "service_area"
    buyer = Party("buyer", "enterprise", "610100")
    need = NeedItem("need", buyer, "produce.fruit.kiwifruit", 1000.0, "kg", "610124")
    # lots posted as the README shows: the service area is the village itself
    inside = OfferItem(
        "in", "east", "produce.fruit.kiwifruit", 500.0, "kg", "610124104201", ("610124104201",)
    )
    outside = OfferItem("out", "west", "produce.fruit.kiwifruit", 500.0, "kg", "610125101201", ("610124",))
    assert [c.offer.id for c in candidates_for([need], [inside, outside], today=TODAY)] == ["in"]
    failed = first_failure(need, outside, TODAY)
    assert failed is not None and failed.as_dict() == {
        "code": "region_origin_outside",
        "params": {"origin": "610125101201", "area": "610124"},
    }


def test_a_window_that_ended_ends_matching() -> None:
    course = OfferItem("course", "ngo", "training", 30.0, "人", "610124", ("610124",))
    ended = NeedItem(
        "late",
        Party("v", "community", "610124104201"),
        "training",
        10.0,
        "人",
        "610124104201",
        window_start=TODAY - timedelta(days=10),
        window_end=TODAY - timedelta(days=1),
    )
    assert candidates_for([ended], [course], today=TODAY) == []
    failed = first_failure(ended, course, TODAY)
    assert failed is not None and failed.as_dict() == {
        "code": "need_window_expired",
        "params": {"window_end": (TODAY - timedelta(days=1)).isoformat()},
    }
    on_the_day = NeedItem(
        "today",
        Party("v", "community", "610124104201"),
        "training",
        10.0,
        "人",
        "610124104201",
        window_end=TODAY,
    )
    assert first_failure(on_the_day, course, TODAY) is None


def test_the_diagnosis_lists_the_nearest_offers_with_the_filter_each_fails() -> None:
    need = NeedItem(
        "need",
        Party("village", "community", "610124104201"),
        "training.livestream",
        30.0,
        "人",
        "610124104201",
        attributes={"required_certifications": ["organic"]},
    )
    offers = [
        OfferItem("far", "a", "training", 30.0, "人", "610125", ("610125",)),  # region fails
        OfferItem("near", "b", "training", 30.0, "人", "610124", ("610124",)),  # certification fails
        OfferItem("kg", "c", "training", 30.0, "kg", "610124", ("610124",)),  # units fail
        OfferItem(
            "ok",
            "d",
            "training",
            30.0,
            "人",
            "610124",
            ("610124",),
            attributes={"certifications": ["organic"]},
        ),
        OfferItem("mine", "village", "training", 30.0, "人", "610124", ("610124",)),  # same organisation
    ]
    found = nearest_offers(need, offers, today=TODAY, limit=4)
    assert [(n.offer.id, n.failed.code if n.failed else None) for n in found] == [
        ("ok", None),
        ("near", "missing_certifications"),
        ("kg", "units_mismatch"),
        ("far", "region_not_served"),
    ]
    assert found[1].passed[-1] == "units"


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


def _pairs(candidates: list[Candidate]) -> list[tuple[str, str, dict[str, float], float]]:
    return [(c.need.id, c.offer.id, dict(c.terms), c.score) for c in candidates]


@settings(max_examples=200, deadline=None)
@given(
    instances(max_needs=8, max_offers=8),
    st.sets(st.tuples(st.sampled_from(["n0", "n1", "n2"]), st.sampled_from(["o0", "o1"]))),
)
def test_the_matrix_filter_finds_exactly_the_pairs_of_the_one_pair_reference(
    instance: tuple[list[NeedItem], list[OfferItem]], excluded: set[tuple[str, str]]
) -> None:
    needs, offers = instance
    reference = candidates_for(needs, offers, today=TODAY, excluded=frozenset(excluded))
    assert _pairs(candidate_pairs(needs, offers, today=TODAY, excluded=frozenset(excluded))) == _pairs(
        reference
    )


@settings(max_examples=100, deadline=None)
@given(instances(max_needs=8, max_offers=8), st.integers(1, 3))
def test_sparsifying_keeps_each_listings_best_pairs(
    instance: tuple[list[NeedItem], list[OfferItem]], keep: int
) -> None:
    needs, offers = instance
    every = candidates_for(needs, offers, today=TODAY)
    kept = candidate_pairs(needs, offers, today=TODAY, keep=keep)
    kept_pairs = {(c.need.id, c.offer.id) for c in kept}
    assert kept_pairs <= {(c.need.id, c.offer.id) for c in every}
    for side in ("need", "offer"):
        by_listing: dict[str, list[Candidate]] = defaultdict(list)
        for c in every:
            by_listing[getattr(c, side).id].append(c)
        for options in by_listing.values():
            best = sorted(options, key=lambda c: -c.score)[:keep]
            threshold = best[-1].score
            # every option strictly better than the keep-th best is kept
            for c in options:
                if c.score > threshold + 1e-12:
                    assert (c.need.id, c.offer.id) in kept_pairs
            assert sum((c.need.id, c.offer.id) in kept_pairs for c in options) >= len(best)


def test_a_standing_proposal_is_kept_when_an_equal_allocation_exists() -> None:
    need = NeedItem("need", Party("v", "community", "610124104201"), "training", 10.0, "人", "610124104201")
    twins = [OfferItem(o, f"org-{o}", "training", 10.0, "人", "610124", ("610124",)) for o in ("a", "b")]
    candidates = candidates_for([need], twins, today=TODAY)
    assert candidates[0].score == candidates[1].score
    for kept in ("a", "b"):
        allocations = allocate(candidates, standing={("need", kept): 10.0})
        assert [(a.candidate.offer.id, a.quantity) for a in allocations] == [(kept, 10.0)]
    # a standing proposal worse than the alternative is not kept: value comes first
    better = OfferItem("c", "org-c", "training", 10.0, "人", "610124104201", ("610124",))  # same village
    allocations = allocate(
        candidates_for([need], [*twins, better], today=TODAY), standing={("need", "a"): 10.0}
    )
    assert [(a.candidate.offer.id, a.quantity) for a in allocations] == [("c", 10.0)]
