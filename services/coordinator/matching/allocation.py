"""The optimal allocation of quantities over candidate pairs, fair when supply is contested,
and a greedy baseline.

Objective: maximise Σ score(pair) × (share of the need the pair fills) — every unit given
to a need earns that pair's score per unit of the need, so a need filled completely by its
best offers earns the most. Quantities split freely: a need may draw on several offers
(pooled supply) and an offer may serve several needs (a course's seats, a lot's tonnes).

Constraints: no need receives more than it still needs, no offer gives more than it still
has, no pair exceeds either, and a programme's ``max_amount`` caps what one organisation
receives from it.

**Fair splits.** An offer is *contested* when two or more organisations ask it for more than
it has. Its capacity is then first split between them by the stated rule
(``COORDINATOR_FAIR_SPLIT``), each organisation's demand being the sum of what its candidate
needs still lack:

- ``max_min`` (default): max-min fair shares (water-filling) — every organisation gets the
  same amount, except that no one gets more than it asked for; what the smaller demands leave
  is shared equally by the larger ones. 30 seats asked for 15, 10 and 12 → 10, 10, 10.
- ``proportional``: shares proportional to demand. 30 seats for 15, 10, 12 → 12.2, 8.1, 9.7.

Counted things (persons, seats, pieces) are shared in whole units: shares are rounded down and
the units left over go one at a time to the organisations with the largest unmet demand
(ties by organisation id). The solve then has two phases: (1) the optimal allocation with each
organisation capped at its fair share of each contested offer; (2) keeping everything phase 1
gave, the capacity that organisations did not take (their needs were covered elsewhere) is
allocated optimally without the caps. So an organisation receives at least its fair share
unless its needs are covered, and nothing is left idle that another need could use.

Both phases are minimum-cost flows (offer → offer×organisation → need) solved as linear
programmes with HiGHS (highspy): exact, fast and deterministic for the same input.
"""

import heapq
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import highspy
import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix, csc_matrix

from services.coordinator.matching.filters import Candidate

__all__ = [
    "FAIR_SPLITS",
    "Allocation",
    "FairSplit",
    "GroupLimit",
    "allocate",
    "fair_shares",
    "greedy_allocate",
    "group_limits",
    "objective",
]

EPSILON = 1e-7
RESOLUTION = 1e-4  # quantities are rounded down to this many base units
COUNTED = frozenset({"[person]", "[piece]"})  # dimensions shared in whole units

FairSplit = Literal["max_min", "proportional"]
FAIR_SPLITS: tuple[FairSplit, ...] = ("max_min", "proportional")


@dataclass(frozen=True)
class Allocation:
    candidate: Candidate
    quantity: float  # base units
    limited_by: str  # need, offer, fair_share, programme_max, shared (see shared.reasons)
    fair: "GroupLimit | None" = None  # the fair share that limited it, if one did


@dataclass(frozen=True)
class GroupLimit:
    """The most one organisation may take of one offer: its fair share or a programme's cap."""

    limit: float
    kind: Literal["fair_share", "programme_max"]
    rule: FairSplit
    capacity: float
    organisations: int
    demand: float


def fair_shares(
    capacity: float, demands: Mapping[str, float], rule: FairSplit, *, whole: bool = False
) -> dict[str, float]:
    """Each organisation's fair share of ``capacity`` given what each asks for (see above)."""
    total = sum(demands.values())
    if total <= capacity + EPSILON:
        return dict(demands)
    shares: dict[str, float] = {}
    if rule == "proportional":
        shares = {org: capacity * demand / total for org, demand in demands.items()}
    else:
        left, waiting = capacity, sorted(demands, key=lambda o: (demands[o], o))
        for index, org in enumerate(waiting):
            level = left / (len(waiting) - index)
            shares[org] = min(demands[org], level)
            left -= shares[org]
    if whole:
        shares = {org: math.floor(share + EPSILON) for org, share in shares.items()}
        spare = math.floor(capacity + EPSILON) - sum(shares.values())
        # the units left over, one at a time, to the largest unmet demand (ties: lowest id)
        wanting = [(-(demands[o] - shares[o]), o) for o in shares if shares[o] + 1 <= demands[o] + EPSILON]
        heapq.heapify(wanting)
        while spare > 0 and wanting:
            _, org = heapq.heappop(wanting)
            shares[org] += 1
            spare -= 1
            if shares[org] + 1 <= demands[org] + EPSILON:
                heapq.heappush(wanting, (-(demands[org] - shares[org]), org))
    return shares


def group_limits(
    candidates: Sequence[Candidate], rule: FairSplit = "max_min"
) -> dict[tuple[str, str], GroupLimit]:
    """The most one organisation may take of one offer, where that is a real limit."""
    demand: dict[tuple[str, str], float] = defaultdict(float)
    for c in candidates:  # candidates are distinct (need, offer) pairs
        demand[(c.offer.id, c.need.party.organisation_id)] += c.need.remaining
    by_offer: dict[str, list[str]] = defaultdict(list)
    for offer_id, org in demand:
        by_offer[offer_id].append(org)
    offers = {c.offer.id: c.offer for c in candidates}
    limits: dict[tuple[str, str], GroupLimit] = {}
    for offer_id, orgs in by_offer.items():
        offer = offers[offer_id]
        asked = {org: demand[(offer_id, org)] for org in orgs}
        shares = (
            fair_shares(offer.remaining, asked, rule, whole=offer.dimension in COUNTED)
            if len(orgs) >= 2
            else dict(asked)
        )
        for org in orgs:
            wanted = min(offer.remaining, asked[org])
            cap = offer.max_per_organisation
            if cap is not None and cap < min(shares[org], wanted) - EPSILON:
                limits[(offer_id, org)] = GroupLimit(
                    cap, "programme_max", rule, offer.remaining, len(orgs), asked[org]
                )
            elif shares[org] < wanted - EPSILON:
                limits[(offer_id, org)] = GroupLimit(
                    shares[org], "fair_share", rule, offer.remaining, len(orgs), asked[org]
                )
    return limits


STICKY_BONUS = 1e-4  # relative value of keeping a standing proposal's quantity


def _solve(
    candidates: Sequence[Candidate],
    limits: Mapping[tuple[str, str], float],
    lower: Sequence[float] | None = None,
    standing: Mapping[tuple[str, str], float] | None = None,
) -> list[float]:
    """The optimal quantities per candidate under ``limits`` per (offer, organisation).

    The variables are the share of each need a pair fills (so the costs are the scores, of
    order 1, whatever the units). A pair with a ``standing`` proposal has a second variable
    worth ``STICKY_BONUS`` more, up to the standing quantity: among allocations of equal value
    the solver keeps what is already proposed instead of churning proposals.
    """
    needs = sorted({c.need.id: c.need for c in candidates}.items())
    offers = sorted({c.offer.id: c.offer for c in candidates}.items())
    need_row = {need_id: i for i, (need_id, _) in enumerate(needs)}
    offer_row = {offer_id: len(needs) + j for j, (offer_id, _) in enumerate(offers)}
    group_row = {key: len(needs) + len(offers) + k for k, key in enumerate(sorted(limits))}
    held = standing or {}
    sticky = [p for p, c in enumerate(candidates) if held.get((c.need.id, c.offer.id), 0.0) > 0]
    column_of = np.array(list(range(len(candidates))) + sticky, dtype=np.int64)

    # per candidate: its need's row, its offer's row, its group's row (-1: none), its need's size
    need_of = np.array([need_row[c.need.id] for c in candidates], dtype=np.int64)
    offer_of = np.array([offer_row[c.offer.id] for c in candidates], dtype=np.int64)
    group_of = np.array(
        [group_row.get((c.offer.id, c.need.party.organisation_id), -1) for c in candidates], dtype=np.int64
    )
    size = np.array([c.need.remaining for c in candidates])
    columns = np.arange(len(column_of))
    grouped = group_of[column_of] >= 0
    rows = np.concatenate([need_of[column_of], offer_of[column_of], group_of[column_of][grouped]])
    cols = np.concatenate([columns, columns, columns[grouped]])
    values = np.concatenate([np.ones(len(column_of)), size[column_of], size[column_of][grouped]])
    shape = (len(needs) + len(offers) + len(limits), len(column_of))
    a_ub = coo_matrix((values, (rows, cols)), shape=shape)
    b_ub = np.array(
        [1.0] * len(needs) + [o.remaining for _, o in offers] + [limits[key] for key in sorted(limits)]
    )
    score = np.array([c.score for c in candidates])
    cost = -np.concatenate([score, score[sticky] * (1 + STICKY_BONUS)])
    upper = np.minimum(size, np.array([c.offer.remaining for c in candidates])) / size
    low = np.zeros(len(candidates)) if lower is None else np.minimum(np.array(lower) / size, upper)
    sticky_upper = np.array(
        [min(upper[p], held[(candidates[p].need.id, candidates[p].offer.id)] / size[p]) for p in sticky]
    )
    bounds = list(zip(low.tolist(), upper.tolist(), strict=True)) + [(0.0, u) for u in sticky_upper.tolist()]
    shares = np.array(_maximise(cost, a_ub.tocsc(), b_ub, bounds))
    quantities = shares[: len(candidates)] * size
    if sticky:
        np.add.at(quantities, np.array(sticky), shares[len(candidates) :] * size[sticky])
    rounded: list[float] = np.maximum(0.0, np.floor(quantities / RESOLUTION + EPSILON) * RESOLUTION).tolist()
    return rounded


def _maximise(
    cost: npt.NDArray[np.float64],
    matrix: csc_matrix,
    row_upper: npt.NDArray[np.float64],
    bounds: Sequence[tuple[float, float]],
) -> list[float]:
    """Minimise ``cost`` · x subject to ``matrix`` x ≤ ``row_upper`` and the column bounds,
    with HiGHS (highspy): the same solver scipy wraps, without the wrapper's per-call cost."""
    solver = highspy.Highs()  # type: ignore[no-untyped-call]
    solver.setOptionValue("output_flag", False)
    solver.setOptionValue("threads", 1)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = matrix.shape[1], matrix.shape[0]
    lp.col_cost_ = cost
    lp.col_lower_ = np.array([low for low, _ in bounds], dtype=np.float64)
    lp.col_upper_ = np.array([high for _, high in bounds], dtype=np.float64)
    lp.row_lower_ = np.full(matrix.shape[0], -highspy.kHighsInf)
    lp.row_upper_ = row_upper.astype(np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr
    lp.a_matrix_.index_ = matrix.indices
    lp.a_matrix_.value_ = matrix.data
    solver.passModel(lp)
    solver.run()
    status = solver.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"allocation failed: {solver.modelStatusToString(status)}")
    return [float(x) for x in solver.getSolution().col_value]


def _idle_contested(
    candidates: Sequence[Candidate], quantities: Sequence[float], limits: Mapping[tuple[str, str], GroupLimit]
) -> bool:
    """Whether a contested offer kept capacity that a need it could serve still lacks."""
    fair_offers = {offer_id for (offer_id, _), limit in limits.items() if limit.kind == "fair_share"}
    offer_used: dict[str, float] = defaultdict(float)
    need_used: dict[str, float] = defaultdict(float)
    for c, q in zip(candidates, quantities, strict=True):
        offer_used[c.offer.id] += q
        need_used[c.need.id] += q
    return any(
        c.offer.id in fair_offers
        and offer_used[c.offer.id] < c.offer.remaining - RESOLUTION
        and need_used[c.need.id] < c.need.remaining - RESOLUTION
        for c in candidates
    )


def allocate(
    candidates: Sequence[Candidate],
    *,
    fair_split: FairSplit = "max_min",
    leftovers: bool = True,
    standing: Mapping[tuple[str, str], float] | None = None,
) -> list[Allocation]:
    """The optimal allocation with fair splits of contested offers (see the module's
    description); ``leftovers=False`` stops after the first phase. ``standing`` maps
    (need id, offer id) to the quantity already proposed: kept where that costs nothing."""
    if not candidates:
        return []
    limits = group_limits(candidates, fair_split)
    quantities = _solve(candidates, {key: limit.limit for key, limit in limits.items()}, standing=standing)
    if leftovers and _idle_contested(candidates, quantities, limits):
        programme = {key: limit.limit for key, limit in limits.items() if limit.kind == "programme_max"}
        quantities = _solve(candidates, programme, lower=quantities)
    return _with_limits(candidates, quantities, limits)


def greedy_allocate(
    candidates: Sequence[Candidate], *, fair_split: FairSplit = "max_min", leftovers: bool = True
) -> list[Allocation]:
    """A baseline: best-scoring pairs first, each as much as the fair shares allow, then the
    capacity left over, best-scoring first, under the programmes' caps only."""
    limits = group_limits(candidates, fair_split)
    need_left = {c.need.id: c.need.remaining for c in candidates}
    offer_left = {c.offer.id: c.offer.remaining for c in candidates}
    quantities = [0.0] * len(candidates)
    order = sorted(
        range(len(candidates)),
        key=lambda p: (-candidates[p].score, candidates[p].need.id, candidates[p].offer.id),
    )
    for phase in ("fair", "leftover") if leftovers else ("fair",):
        group_left = {
            key: limit.limit
            for key, limit in limits.items()
            if phase == "fair" or limit.kind == "programme_max"
        }
        if phase == "leftover":
            for p, c in enumerate(candidates):
                key = (c.offer.id, c.need.party.organisation_id)
                if key in group_left:
                    group_left[key] -= quantities[p]
        for p in order:
            c = candidates[p]
            key = (c.offer.id, c.need.party.organisation_id)
            take = min(need_left[c.need.id], offer_left[c.offer.id], group_left.get(key, float("inf")))
            take = float(np.floor(take / RESOLUTION + EPSILON) * RESOLUTION)
            if take <= 0:
                continue
            quantities[p] += take
            need_left[c.need.id] -= take
            offer_left[c.offer.id] -= take
            if key in group_left:
                group_left[key] -= take
    return _with_limits(candidates, quantities, limits)


def _with_limits(
    candidates: Sequence[Candidate], quantities: Sequence[float], limits: Mapping[tuple[str, str], GroupLimit]
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
        limit = limits.get(key)
        if need_used[c.need.id] >= c.need.remaining - tight:
            allocations.append(Allocation(c, q, "need"))
        elif limit is not None and abs(group_used[key] - limit.limit) <= tight:
            allocations.append(Allocation(c, q, limit.kind, limit if limit.kind == "fair_share" else None))
        elif offer_used[c.offer.id] >= c.offer.remaining - tight:
            allocations.append(Allocation(c, q, "offer"))
        else:
            allocations.append(Allocation(c, q, "shared"))
    return allocations


def objective(allocations: Sequence[Allocation]) -> float:
    """The value the allocation reaches: Σ score × share of the need filled."""
    return sum(a.candidate.score * a.quantity / a.candidate.need.remaining for a in allocations)
