"""The optimal allocation of quantities over candidate pairs, and a greedy baseline.

Objective: maximise Σ score(pair) × (share of the need the pair fills) — every unit given
to a need earns that pair's score per unit of the need, so a need filled completely by its
best offers earns the most. Quantities split freely: a need may draw on several offers
(pooled supply) and an offer may serve several needs (a course's seats, a lot's tonnes).

Constraints: no need receives more than it still needs, no offer gives more than it still
has, no pair exceeds either, and, for an offer two or more organisations compete for, no
organisation takes more than ``fairness_cap`` of it while the others' demand is unmet —
precisely, at most max(cap × capacity, capacity − the others' demand). A programme's
``max_amount`` caps what one organisation receives from it.

This is a minimum-cost flow (offer → offer×organisation → need); it is solved as a linear
programme with HiGHS (scipy), which is exact, fast and deterministic for the same input.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from services.coordinator.matching.filters import Candidate

__all__ = ["Allocation", "allocate", "greedy_allocate", "group_limits", "objective"]

EPSILON = 1e-7
RESOLUTION = 1e-4  # quantities are rounded down to this many base units


@dataclass(frozen=True)
class Allocation:
    candidate: Candidate
    quantity: float  # base units
    limited_by: str  # need, offer, fairness_cap, programme_max, shared (see explanation.LIMITS)


def group_limits(candidates: Sequence[Candidate], fairness_cap: float) -> dict[tuple[str, str], float]:
    """The most one organisation may take of one offer, where that is a real limit."""
    demand: dict[tuple[str, str], float] = defaultdict(float)
    for c in candidates:  # candidates are distinct (need, offer) pairs
        demand[(c.offer.id, c.need.party.organisation_id)] += c.need.remaining
    by_offer: dict[str, list[str]] = defaultdict(list)
    for offer_id, org in demand:
        by_offer[offer_id].append(org)
    offers = {c.offer.id: c.offer for c in candidates}
    limits: dict[tuple[str, str], float] = {}
    for offer_id, orgs in by_offer.items():
        offer = offers[offer_id]
        total = sum(demand[(offer_id, o)] for o in orgs)
        for org in orgs:
            limit = float("inf")
            if len(orgs) >= 2:
                others = total - demand[(offer_id, org)]
                limit = max(fairness_cap * offer.remaining, offer.remaining - others)
            if offer.max_per_organisation is not None:
                limit = min(limit, offer.max_per_organisation)
            if limit < min(offer.remaining, demand[(offer_id, org)]) - EPSILON:
                limits[(offer_id, org)] = limit
    return limits


def allocate(candidates: Sequence[Candidate], *, fairness_cap: float = 0.5) -> list[Allocation]:
    """The optimal allocation (see the module's description)."""
    if not candidates:
        return []
    needs = sorted({c.need.id: c.need for c in candidates}.items())
    offers = sorted({c.offer.id: c.offer for c in candidates}.items())
    need_row = {need_id: i for i, (need_id, _) in enumerate(needs)}
    offer_row = {offer_id: len(needs) + j for j, (offer_id, _) in enumerate(offers)}
    limits = group_limits(candidates, fairness_cap)
    group_row = {key: len(needs) + len(offers) + k for k, key in enumerate(sorted(limits))}

    rows: list[int] = []
    cols: list[int] = []
    for p, c in enumerate(candidates):
        rows += [need_row[c.need.id], offer_row[c.offer.id]]
        cols += [p, p]
        key = (c.offer.id, c.need.party.organisation_id)
        if key in group_row:
            rows.append(group_row[key])
            cols.append(p)
    shape = (len(needs) + len(offers) + len(limits), len(candidates))
    a_ub = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=shape).tocsr()
    b_ub = np.array(
        [n.remaining for _, n in needs]
        + [o.remaining for _, o in offers]
        + [limits[key] for key in sorted(limits)]
    )
    cost = np.array([-c.score / c.need.remaining for c in candidates])
    bounds = [(0.0, min(c.need.remaining, c.offer.remaining)) for c in candidates]
    result = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if result.status != 0:
        raise RuntimeError(f"allocation failed: {result.message}")
    quantities = [max(0.0, float(np.floor(x / RESOLUTION + EPSILON) * RESOLUTION)) for x in result.x]
    return _with_limits(candidates, quantities, limits)


def greedy_allocate(candidates: Sequence[Candidate], *, fairness_cap: float = 0.5) -> list[Allocation]:
    """A baseline: best-scoring pairs first, each as much as the constraints allow."""
    limits = group_limits(candidates, fairness_cap)
    need_left = {c.need.id: c.need.remaining for c in candidates}
    offer_left = {c.offer.id: c.offer.remaining for c in candidates}
    group_left = dict(limits)
    quantities = [0.0] * len(candidates)
    order = sorted(
        range(len(candidates)),
        key=lambda p: (-candidates[p].score, candidates[p].need.id, candidates[p].offer.id),
    )
    for p in order:
        c = candidates[p]
        key = (c.offer.id, c.need.party.organisation_id)
        take = min(need_left[c.need.id], offer_left[c.offer.id], group_left.get(key, float("inf")))
        take = float(np.floor(take / RESOLUTION + EPSILON) * RESOLUTION)
        if take <= 0:
            continue
        quantities[p] = take
        need_left[c.need.id] -= take
        offer_left[c.offer.id] -= take
        if key in group_left:
            group_left[key] -= take
    return _with_limits(candidates, quantities, limits)


def _with_limits(
    candidates: Sequence[Candidate], quantities: Sequence[float], limits: dict[tuple[str, str], float]
) -> list[Allocation]:
    """Allocations with the constraint that stopped each from being larger."""
    need_used: dict[str, float] = defaultdict(float)
    offer_used: dict[str, float] = defaultdict(float)
    group_used: dict[tuple[str, str], float] = defaultdict(float)
    for c, q in zip(candidates, quantities, strict=True):
        need_used[c.need.id] += q
        offer_used[c.offer.id] += q
        group_used[(c.offer.id, c.need.party.organisation_id)] += q
    tight = 2 * RESOLUTION * max(1, len(candidates))
    allocations: list[Allocation] = []
    for c, q in zip(candidates, quantities, strict=True):
        if q <= 0:
            continue
        key = (c.offer.id, c.need.party.organisation_id)
        if need_used[c.need.id] >= c.need.remaining - tight:
            limited_by = "need"
        elif key in limits and group_used[key] >= limits[key] - tight:
            is_programme = (
                c.offer.max_per_organisation is not None and limits[key] == c.offer.max_per_organisation
            )
            limited_by = "programme_max" if is_programme else "fairness_cap"
        elif offer_used[c.offer.id] >= c.offer.remaining - tight:
            limited_by = "offer"
        else:
            limited_by = "shared"
        allocations.append(Allocation(c, q, limited_by))
    return allocations


def objective(allocations: Sequence[Allocation]) -> float:
    """The value the allocation reaches: Σ score × share of the need filled."""
    return sum(a.candidate.score * a.quantity / a.candidate.need.remaining for a in allocations)
