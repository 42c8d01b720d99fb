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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat
from typing import Literal, NamedTuple

import highspy
import numpy as np
import numpy.typing as npt
from scipy.sparse import csc_matrix

from services.coordinator.matching.filters import Candidate, CandidatePairs, NeedItem, OfferItem
from shared.collector import pausing_collection

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


class Allocation(NamedTuple):
    """A quantity of one candidate pair. (Tuples: a full solve makes close to a million.)"""

    candidate: Candidate
    quantity: float  # base units
    limited_by: str  # need, offer, fair_share, programme_max, shared (see shared.reasons)
    fair: "GroupLimit | None" = None  # the fair share that limited it, if one did


class GroupLimit(NamedTuple):
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


STICKY_BONUS = 1e-4  # relative value of keeping a standing proposal's quantity

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class _Indexed:
    """The candidates as arrays: each one's need, offer and (offer, organisation) group as a
    row number (needs, offers and groups in id order, so the linear programme does not depend
    on the order the candidates came in), its need's size and its score."""

    candidates: Sequence[Candidate]
    needs: list[NeedItem]
    offers: list[OfferItem]
    groups: list[tuple[str, str]]
    need_of: Ints
    offer_of: Ints
    group_of: Ints
    group_offer: Ints  # each group's offer
    size: Floats  # the candidate's need's remaining quantity
    score: Floats

    @classmethod
    def of(cls, candidates: Sequence[Candidate]) -> "_Indexed":
        if isinstance(candidates, CandidatePairs):
            return cls._of_pairs(candidates)
        need_by_id: dict[str, NeedItem] = {}
        offer_by_id: dict[str, OfferItem] = {}
        keys = [(c.need.id, c.offer.id, c.need.party.organisation_id) for c in candidates]
        for c in candidates:
            need_by_id[c.need.id] = c.need
            offer_by_id[c.offer.id] = c.offer
        need_row = {need_id: i for i, need_id in enumerate(sorted(need_by_id))}
        offer_row = {offer_id: j for j, offer_id in enumerate(sorted(offer_by_id))}
        groups = sorted({(offer_id, org) for _, offer_id, org in keys})
        group_row = {key: k for k, key in enumerate(groups)}
        count = len(candidates)
        return cls(
            candidates=candidates,
            needs=[need_by_id[i] for i in need_row],
            offers=[offer_by_id[j] for j in offer_row],
            groups=groups,
            need_of=np.fromiter((need_row[n] for n, _, _ in keys), dtype=np.int64, count=count),
            offer_of=np.fromiter((offer_row[o] for _, o, _ in keys), dtype=np.int64, count=count),
            group_of=np.fromiter((group_row[(o, g)] for _, o, g in keys), dtype=np.int64, count=count),
            group_offer=np.fromiter((offer_row[o] for o, _ in groups), dtype=np.int64, count=len(groups)),
            size=np.fromiter((c.need.remaining for c in candidates), dtype=np.float64, count=count),
            score=np.fromiter((c.score for c in candidates), dtype=np.float64, count=count),
        )

    @classmethod
    def _of_pairs(cls, pairs: CandidatePairs) -> "_Indexed":
        """The same index, from the rows the matrix filter found the pairs at: array
        operations over the pairs instead of a dictionary look-up per pair and id."""
        used_needs, need_of = np.unique(pairs.need_rows, return_inverse=True)
        used_offers, offer_of = np.unique(pairs.offer_rows, return_inverse=True)
        needs = [pairs.needs[i] for i in used_needs.tolist()]
        offers = [pairs.offers[j] for j in used_offers.tolist()]
        organisations = sorted({n.party.organisation_id for n in needs})
        rank = {organisation: k for k, organisation in enumerate(organisations)}
        need_rank = np.fromiter(
            (rank[n.party.organisation_id] for n in needs), dtype=np.int64, count=len(needs)
        )
        group_keys, group_of = np.unique(
            offer_of * len(organisations) + need_rank[need_of], return_inverse=True
        )
        group_offer = group_keys // len(organisations)
        need_size = np.fromiter((n.remaining for n in needs), dtype=np.float64, count=len(needs))
        return cls(
            candidates=pairs,
            needs=needs,
            offers=offers,
            groups=[
                (offers[j].id, organisations[k])
                for j, k in zip(group_offer.tolist(), (group_keys % len(organisations)).tolist(), strict=True)
            ],
            need_of=need_of.astype(np.int64),
            offer_of=offer_of.astype(np.int64),
            group_of=group_of.astype(np.int64),
            group_offer=group_offer.astype(np.int64),
            size=need_size[need_of],
            score=np.asarray(pairs.scores, dtype=np.float64),
        )

    @cached_property
    def need_full(self) -> Floats:
        """What each need (by row) still lacks (read-only: shared by every step)."""
        return _read_only(
            np.fromiter((n.remaining for n in self.needs), dtype=np.float64, count=len(self.needs))
        )

    @cached_property
    def offer_full(self) -> Floats:
        """What each offer (by row) still has (read-only: shared by every step)."""
        return _read_only(
            np.fromiter((o.remaining for o in self.offers), dtype=np.float64, count=len(self.offers))
        )

    def used(self, quantities: Floats) -> tuple[Floats, Floats, Floats]:
        """What ``quantities`` give each need, take from each offer and give each group."""
        return (
            _sums(self.need_of, quantities, len(self.needs)),
            _sums(self.offer_of, quantities, len(self.offers)),
            _sums(self.group_of, quantities, len(self.groups)),
        )


def _read_only(values: Floats) -> Floats:
    values.flags.writeable = False
    return values


def _sums(rows: Ints, values: Floats, count: int) -> Floats:
    """The sum of ``values`` per row, summed in their order."""
    return np.asarray(np.bincount(rows, weights=values, minlength=count), dtype=np.float64)


def _limits(ix: _Indexed, rule: FairSplit) -> "_Limits":
    """The most each group may take of its offer, where that is a real limit (by group row).

    Every group's share at once: ``fair_shares`` computed as array operations over the
    contested offers whose quantities split freely; those shared in whole units, one offer at
    a time by ``fair_shares`` itself. Elsewhere every organisation may take all it asks for."""
    offer_count = len(ix.offers)
    demand = _sums(ix.group_of, ix.size, len(ix.groups))
    first = np.searchsorted(ix.group_offer, np.arange(offer_count + 1))  # groups are in offer order
    groups_of_offer = np.diff(first)
    asked_in_all = _sums(ix.group_offer, demand, offer_count)
    capacity = ix.offer_full
    cap = np.fromiter(
        (math.nan if o.max_per_organisation is None else o.max_per_organisation for o in ix.offers),
        dtype=np.float64,
        count=offer_count,
    )
    whole = np.fromiter((o.dimension in COUNTED for o in ix.offers), dtype=bool, count=offer_count)
    contested = (groups_of_offer >= 2) & (asked_in_all > capacity + EPSILON)

    share = demand.copy()
    split = (contested & ~whole)[ix.group_offer]
    if split.any():
        if rule == "proportional":
            on = ix.group_offer[split]
            share[split] = capacity[on] * demand[split] / asked_in_all[on]
        else:
            share[split] = _max_min_levels(ix.group_offer[split], demand[split], capacity)
    counted = (contested & whole)[ix.group_offer]
    if counted.any():
        share[counted] = _whole_shares(ix.group_offer[counted], demand[counted], capacity, rule)

    on = ix.group_offer
    wanted = np.minimum(capacity[on], demand)
    capped = ~np.isnan(cap[on]) & (cap[on] < np.minimum(share, wanted) - EPSILON)
    fair = ~capped & (share < wanted - EPSILON)
    return _Limits(
        rule=rule,
        value=np.where(capped, cap[on], np.where(fair, share, np.nan)),
        programme=capped,
        capacity=capacity[on],
        organisations=groups_of_offer[on],
        demand=demand,
    )


@dataclass(frozen=True)
class _Limits:
    """The most each group (by row) may take of its offer, as arrays: ``value`` is NaN where
    nothing but the need and the offer limits it; ``programme`` where a programme's cap does,
    else its fair share. ``GroupLimit``s are made only for the groups asked about."""

    rule: FairSplit
    value: Floats
    programme: npt.NDArray[np.bool_]
    capacity: Floats  # of each group's offer
    organisations: Ints  # asking each group's offer
    demand: Floats  # of each group

    @property
    def rows(self) -> Ints:
        """The groups with a limit."""
        return np.flatnonzero(~np.isnan(self.value))

    @property
    def fair_rows(self) -> Ints:
        return np.flatnonzero(~np.isnan(self.value) & ~self.programme)

    @property
    def programme_rows(self) -> Ints:
        return np.flatnonzero(self.programme)

    def of(self, group: int) -> GroupLimit:
        return GroupLimit(
            float(self.value[group]),
            "programme_max" if self.programme[group] else "fair_share",
            self.rule,
            float(self.capacity[group]),
            int(self.organisations[group]),
            float(self.demand[group]),
        )


def _max_min_levels(offer_of: Ints, demand: Floats, capacity: Floats) -> Floats:
    """Max-min fair shares (``fair_shares``'s water-filling) of several offers at once: the
    groups of each offer ordered by demand, the level each would be given if every group
    from it on shared what the smaller demands left, and each group's share the smaller of its
    demand and its offer's level at the first group whose demand reaches it. ``offer_of`` is
    in offer order, as the groups are."""
    order = np.lexsort((demand, offer_of))  # by offer, then demand (stable: then by organisation)
    offers, start = np.unique(offer_of, return_index=True)
    width = int(np.diff(np.append(start, len(offer_of))).max())
    row = np.searchsorted(offers, offer_of[order])
    column = np.arange(len(order)) - start[row]
    table = np.zeros((len(offers), width))
    table[row, column] = demand[order]
    before = np.cumsum(table, axis=1) - table  # what the smaller demands of the offer ask
    count = (np.diff(np.append(start, len(offer_of))))[:, None]
    ahead = count - np.arange(width)[None, :]  # groups from this one on
    with np.errstate(divide="ignore", invalid="ignore"):
        level = np.where(ahead > 0, (capacity[offers][:, None] - before) / ahead, np.inf)
    reaches = (table >= level) & (ahead > 0)
    first_reaching = np.where(reaches.any(axis=1), reaches.argmax(axis=1), width - 1)
    offer_level = np.where(reaches.any(axis=1), level[np.arange(len(offers)), first_reaching], np.inf)
    shares = np.empty(len(order))
    shares[order] = np.minimum(demand[order], offer_level[row])
    return shares


def _whole_shares(offer_of: Ints, demand: Floats, capacity: Floats, rule: FairSplit) -> Floats:
    """``fair_shares(..., whole=True)`` of several contested offers at once: the shares rounded
    down, then each offer's units left over to the largest unmet demands. ``offer_of`` is in
    offer order and, within an offer, in organisation-id order, as the groups are.

    Giving the units one at a time to the largest unmet demand (ties: the lowest id) gives
    each offer's ``spare`` largest of the values "demand − (share + k)" over every
    organisation's k-th further unit (a unit only while share + k ≤ demand): each
    organisation's values fall as it takes units, so picking the largest each time picks the
    largest ones overall. At most ``spare`` units of each organisation can be among them."""
    count = len(capacity)
    if rule == "proportional":
        share = capacity[offer_of] * demand / _sums(offer_of, demand, count)[offer_of]
    else:
        share = _max_min_levels(offer_of, demand, capacity)
    rounded = np.floor(share + EPSILON)
    spare = np.floor(capacity + EPSILON) - _sums(offer_of, rounded, count)
    units = np.clip(np.minimum(np.floor(demand + EPSILON) - rounded, spare[offer_of]), 0, None).astype(
        np.int64
    )
    group = np.repeat(np.arange(len(demand)), units)
    k = np.arange(len(group)) - np.repeat(np.cumsum(units) - units, units)  # each unit's k - 1
    value = demand[group] - (rounded[group] + k)
    order = np.lexsort((group, -value, offer_of[group]))  # by offer, largest value, lowest id
    ranked, offer = group[order], offer_of[group[order]]
    place = np.arange(len(order)) - np.searchsorted(offer, offer, side="left")  # within its offer
    given = ranked[place < spare[offer]]
    return rounded + np.bincount(given, minlength=len(demand))


def group_limits(
    candidates: Sequence[Candidate], rule: FairSplit = "max_min"
) -> dict[tuple[str, str], GroupLimit]:
    """The most one organisation may take of one offer, where that is a real limit."""
    ix = _Indexed.of(candidates)
    limits = _limits(ix, rule)
    return {ix.groups[g]: limits.of(g) for g in limits.rows.tolist()}


def _solve(
    ix: _Indexed,
    columns: Ints,
    limit: Floats,
    need_room: Floats,
    offer_room: Floats,
    standing: Mapping[tuple[str, str], float] | None = None,
    *,
    presolve: bool = True,
) -> Floats:
    """The optimal quantities of the candidates ``columns`` when each need may still receive
    ``need_room``, each offer still give ``offer_room`` and each group no more than its
    ``limit`` (NaN: no limit of its own).

    The variables are the share of each need a pair fills (so the costs are the scores, of
    order 1, whatever the units). A pair with a ``standing`` proposal has a second variable
    worth ``STICKY_BONUS`` more, up to the standing quantity: among allocations of equal value
    the solver keeps what is already proposed instead of churning proposals.
    """
    held = standing or {}
    sticky = [
        k
        for k, p in enumerate(columns.tolist() if held else ())
        if held.get((ix.candidates[p].need.id, ix.candidates[p].offer.id), 0.0) > 0
    ]
    column_of = np.concatenate([columns, columns[sticky]])
    group_of = ix.group_of[column_of]
    limited = ~np.isnan(limit)
    # a limit on a group of one column is that column's bound, not a row (most groups: one
    # organisation asks an offer through one need)
    bound = limited & (np.bincount(group_of, minlength=len(ix.groups)) == 1)
    group_rows = np.flatnonzero(limited & ~bound)
    group_row = np.full(len(ix.groups), -1, dtype=np.int64)
    group_row[group_rows] = len(ix.needs) + len(ix.offers) + np.arange(len(group_rows))

    size = ix.size[column_of]
    grouped = group_row[group_of] >= 0
    at = np.arange(len(column_of))
    rows = np.concatenate(
        [
            ix.need_of[column_of],
            len(ix.needs) + ix.offer_of[column_of],
            group_row[group_of][grouped],
        ]
    )
    cols = np.concatenate([at, at, at[grouped]])
    values = np.concatenate([np.ones(len(column_of)), size, size[grouped]])
    shape = (len(ix.needs) + len(ix.offers) + len(group_rows), len(column_of))
    matrix = csc_matrix((values, (rows, cols)), shape=shape)
    need_share = need_room / ix.need_full
    row_upper = np.concatenate([need_share, offer_room, limit[group_rows]])
    upper = np.minimum(need_room[ix.need_of[column_of]], offer_room[ix.offer_of[column_of]]) / size
    alone = bound[group_of]
    upper[alone] = np.minimum(upper[alone], limit[group_of[alone]] / size[alone])
    for k in range(len(columns), len(column_of)):
        p = int(column_of[k])
        upper[k] = min(upper[k], held[(ix.candidates[p].need.id, ix.candidates[p].offer.id)] / size[k])
    score = ix.score[column_of]
    score[len(columns) :] *= 1 + STICKY_BONUS
    shares = _maximise(-score, matrix, row_upper, np.zeros(len(column_of)), upper, presolve=presolve)
    quantities = np.zeros(len(ix.candidates))
    np.add.at(quantities, column_of, shares * size)
    return np.maximum(0.0, np.floor(quantities / RESOLUTION + EPSILON) * RESOLUTION)


def _maximise(
    cost: Floats,
    matrix: csc_matrix,
    row_upper: Floats,
    col_lower: Floats,
    col_upper: Floats,
    *,
    presolve: bool = True,
) -> Floats:
    """Minimise ``cost`` · x subject to ``matrix`` x ≤ ``row_upper`` and the column bounds,
    with HiGHS (highspy): the same solver scipy wraps, without the wrapper's per-call cost."""
    # the binding itself: highspy's Highs subclass adds Python callbacks a solve here never
    # uses, and prints HiGHS's banner on stdout the first time one is made
    solver = highspy._Highs()  # type: ignore[attr-defined]  # exported, not in its stubs
    solver.setOptionValue("output_flag", False)
    solver.setOptionValue("threads", 1)
    if not presolve:
        solver.setOptionValue("presolve", "off")
    # the arrays as they are (HighsLp's attributes would copy them element by element)
    columns, rows = matrix.shape[1], matrix.shape[0]
    passed = solver.passModel(
        columns,
        rows,
        matrix.nnz,
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        0.0,
        np.ascontiguousarray(cost, dtype=np.float64),
        np.ascontiguousarray(col_lower, dtype=np.float64),
        np.ascontiguousarray(col_upper, dtype=np.float64),
        np.full(rows, -highspy.kHighsInf),
        np.ascontiguousarray(row_upper, dtype=np.float64),
        matrix.indptr.astype(np.int32),
        matrix.indices.astype(np.int32),
        np.ascontiguousarray(matrix.data, dtype=np.float64),
        np.zeros(columns, dtype=np.int32),  # every column continuous: a linear programme
    )
    # a warning is not a refusal: HiGHS drops coefficients of 1e-9 or less (a need left with a
    # rounding residue of its size) and solves the rest
    if passed == highspy.HighsStatus.kError:
        raise RuntimeError("allocation failed: HiGHS refused the programme")
    solver.run()
    status = solver.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"allocation failed: {solver.modelStatusToString(status)}")
    return np.asarray(solver.getSolution().col_value, dtype=np.float64)


@pausing_collection
def allocate(
    candidates: Sequence[Candidate],
    *,
    fair_split: FairSplit = "max_min",
    leftovers: bool = True,
    standing: Mapping[tuple[str, str], float] | None = None,
) -> list[Allocation]:
    """The optimal allocation with fair splits of contested offers (see the module's
    description); ``leftovers=False`` stops after the first phase. ``standing`` maps
    (need id, offer id) to the quantity already proposed: kept where that costs nothing.

    The second phase keeps what the first gave and allocates only what is left: the pairs
    whose need still lacks and whose offer still has something, with what remains of each
    (and of each programme's cap). Every other pair cannot change, so this is the same
    optimum as re-solving every pair with the first phase's quantities as lower bounds."""
    if not candidates:
        return []
    ix = _Indexed.of(candidates)
    limits = _limits(ix, fair_split)
    need_full, offer_full = ix.need_full, ix.offer_full
    everything = np.arange(len(candidates))
    quantities = _solve(ix, everything, limits.value, need_full, offer_full, standing)
    if leftovers:
        need_used, offer_used, group_used = ix.used(quantities)
        need_room = np.maximum(0.0, need_full - need_used)
        offer_room = np.maximum(0.0, offer_full - offer_used)
        fair_offers = np.zeros(len(ix.offers), dtype=bool)
        fair_offers[ix.group_offer[limits.fair_rows]] = True
        open_pair = (need_room[ix.need_of] > RESOLUTION) & (offer_room[ix.offer_of] > RESOLUTION)
        programme = np.where(limits.programme, np.maximum(0.0, limits.value - group_used), np.nan)
        if (open_pair & fair_offers[ix.offer_of]).any():  # a contested offer kept capacity a need lacks
            # no presolve: this programme has a row per listing and a column per open pair, and
            # HiGHS's presolve took half its time and removed little (the same optimum in half
            # the time, measured over the 100k benchmark's partitions)
            more = _solve(ix, everything[open_pair], programme, need_room, offer_room, presolve=False)
            quantities = np.floor((quantities + more) / RESOLUTION + EPSILON) * RESOLUTION
    return _with_limits(ix, quantities, limits)


@pausing_collection
def greedy_allocate(
    candidates: Sequence[Candidate], *, fair_split: FairSplit = "max_min", leftovers: bool = True
) -> list[Allocation]:
    """A baseline: best-scoring pairs first, each as much as the fair shares allow, then the
    capacity left over, best-scoring first, under the programmes' caps only."""
    if not candidates:
        return []
    ix = _Indexed.of(candidates)
    limits = _limits(ix, fair_split)
    need_left = [n.remaining for n in ix.needs]
    offer_left = [o.remaining for o in ix.offers]
    need_of, offer_of, group_of = ix.need_of.tolist(), ix.offer_of.tolist(), ix.group_of.tolist()
    quantities = [0.0] * len(candidates)
    order = sorted(
        range(len(candidates)),
        key=lambda p: (-candidates[p].score, candidates[p].need.id, candidates[p].offer.id),
    )
    for phase in ("fair", "leftover") if leftovers else ("fair",):
        group_left = {
            g: float(limits.value[g])
            for g in (limits.rows if phase == "fair" else limits.programme_rows).tolist()
        }
        if phase == "leftover":
            for p, g in enumerate(group_of):
                if g in group_left:
                    group_left[g] -= quantities[p]
        for p in order:
            g = group_of[p]
            take = min(need_left[need_of[p]], offer_left[offer_of[p]], group_left.get(g, math.inf))
            take = math.floor(take / RESOLUTION + EPSILON) * RESOLUTION
            if take <= 0:
                continue
            quantities[p] += take
            need_left[need_of[p]] -= take
            offer_left[offer_of[p]] -= take
            if g in group_left:
                group_left[g] -= take
    return _with_limits(ix, np.array(quantities, dtype=np.float64), limits)


def _with_limits(ix: _Indexed, quantities: Floats, limits: _Limits) -> list[Allocation]:
    """Allocations with the constraint that stopped each from being larger."""
    need_used, offer_used, group_used = ix.used(quantities)
    tight = 2 * RESOLUTION * max(1, len(ix.candidates))
    given = np.flatnonzero(quantities > 0)
    need_of, offer_of, group_of = ix.need_of[given], ix.offer_of[given], ix.group_of[given]
    need_tight = need_used[need_of] >= ix.size[given] - tight
    group_tight = ~need_tight & (np.abs(group_used[group_of] - limits.value[group_of]) <= tight)
    offer_tight = ~need_tight & ~group_tight & (offer_used[offer_of] >= ix.offer_full[offer_of] - tight)
    limited_by = np.full(len(given), "shared", dtype=object)
    limited_by[need_tight] = "need"
    limited_by[offer_tight] = "offer"
    fair: list[GroupLimit | None] = [None] * len(given)
    made: dict[int, GroupLimit] = {}
    for k, g in zip(np.flatnonzero(group_tight).tolist(), group_of[group_tight].tolist(), strict=True):
        limit = made[g] if g in made else made.setdefault(g, limits.of(g))
        limited_by[k] = limit.kind
        fair[k] = limit if limit.kind == "fair_share" else None
    # made by tuple.__new__ at C speed (Allocation's own __new__ is Python; close to a million)
    return list(
        map(
            tuple.__new__,
            repeat(Allocation),
            zip(
                map(ix.candidates.__getitem__, given.tolist()),
                quantities[given].tolist(),
                limited_by.tolist(),
                fair,
                strict=True,
            ),
        )
    )


def objective(allocations: Sequence[Allocation]) -> float:
    """The value the allocation reaches: Σ score × share of the need filled."""
    return sum(a.candidate.score * a.quantity / a.candidate.need.remaining for a in allocations)
