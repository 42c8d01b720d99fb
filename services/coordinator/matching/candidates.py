"""The candidate pairs of a partition, computed a matrix at a time, and kept to the best.

Pure. The same pairs and the same score terms as :func:`filters.candidates_for` (the
reference, which checks one pair at a time; a property test holds the two equal), but the
filters every pair meets — organisations, categories, ended windows, regions, overlapping
windows, units — and the terms are computed as numpy matrices over the partition's needs ×
offers, from small tables over the distinct categories and regions. Only the pairs that
still pass and carry a requirement, a price range or a programme's rules go through the
one-pair check. So a county's partition of hundreds of needs and offers is filtered in
milliseconds rather than seconds.

``keep`` sparsifies a dense partition before the allocation: each need keeps its ``keep``
best-scoring offers and each offer its ``keep`` best-scoring needs (the union of both), so
every listing keeps its best options and the linear programme stays small. ``keep=None``
keeps every pair.
"""

from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import date
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from services.coordinator.matching.filters import (
    WEIGHTS,
    Candidate,
    CandidatePairs,
    NeedItem,
    OfferItem,
    first_failure,
    quality_of,
    region_rule,
    urgency_of,
)
from shared.collector import pausing_collection
from shared.regions import significant_prefix
from shared.taxonomy import can_serve

__all__ = ["candidate_pairs"]

_FAR_PAST = -(10**9)
_FAR_FUTURE = 10**9
K = TypeVar("K", bound=Hashable)
R = TypeVar("R", bound=Hashable)
C = TypeVar("C", bound=Hashable)
Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]


def _codes(values: Sequence[K]) -> tuple[npt.NDArray[np.int64], list[K]]:
    """Each value's index among the distinct values (in first-seen order), and those values."""
    index: dict[K, int] = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values))
    return codes, list(index)


def _table(
    rows: Sequence[R], cols: Sequence[C], cell: Callable[[R, C], float | bool], dtype: type
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.generic]]:
    """Row codes, column codes and the table of ``cell`` over the distinct values."""
    row_codes, row_values = _codes(rows)
    col_codes, col_values = _codes(cols)
    table: npt.NDArray[np.generic] = np.array(
        [[cell(r, c) for c in col_values] for r in row_values], dtype=dtype
    ).reshape(len(row_values), len(col_values))
    return row_codes, col_codes, table


def _lookup(
    rows: Sequence[R], cols: Sequence[C], cell: Callable[[R, C], float | bool], dtype: type
) -> npt.NDArray[np.generic]:
    row_codes, col_codes, table = _table(rows, cols, cell, dtype)
    return table[row_codes[:, None], col_codes[None, :]]


def _equal(rows: Sequence[K], cols: Sequence[K]) -> Bools:
    """``rows[i] == cols[j]`` over rows × columns, as codes shared by both sides (a table
    over the distinct values would call ``==`` once per pair of them: organisations are many)."""
    index: dict[K, int] = {}
    row_codes = np.fromiter((index.setdefault(v, len(index)) for v in rows), dtype=np.int64, count=len(rows))
    col_codes = np.fromiter((index.setdefault(v, len(index)) for v in cols), dtype=np.int64, count=len(cols))
    equal: Bools = row_codes[:, None] == col_codes[None, :]
    return equal


def _days(value: date | None, missing: int) -> int:
    return value.toordinal() if value is not None else missing


_LENGTHS = (2, 4, 6, 9, 12)  # the prefix lengths of the levels of a region code


class _Prefixes:
    """Region codes as integer codes of their prefixes, one array per level, so "is ``a``
    under ``b``" and "how near are they" become array comparisons. Codes are shared by every
    array made from one instance; a code shorter than a level has -1 there (needs) or -2
    (offers and areas), so a missing level never equals another missing one."""

    def __init__(self) -> None:
        self._index: dict[str, int] = {}

    def code(self, prefix: str) -> int:
        return self._index.setdefault(prefix, len(self._index))

    def levels(self, regions: Sequence[str], missing: int) -> dict[int, npt.NDArray[np.int64]]:
        """Each level's prefix codes of ``regions`` (computed once per distinct region)."""
        codes, distinct = _codes(regions)
        return {
            length: np.fromiter(
                (self.code(r[:length]) if len(r) >= length else missing for r in distinct),
                dtype=np.int64,
                count=len(distinct),
            )[codes]
            for length in _LENGTHS
        }


def _proximity(need_regions: Sequence[str], offer_regions: Sequence[str]) -> Floats:
    """:func:`filters.proximity_of` over needs × offers: the value of the deepest shared level."""
    prefixes = _Prefixes()
    need_at, offer_at = prefixes.levels(need_regions, -1), prefixes.levels(offer_regions, -2)
    result = np.zeros((len(need_regions), len(offer_regions)))
    for length, value in zip(_LENGTHS, (0.2, 0.4, 0.6, 0.8, 1.0), strict=True):
        result[need_at[length][:, None] == offer_at[length][None, :]] = value
    return result


def _meets_regions(need_list: Sequence[NeedItem], offer_list: Sequence[OfferItem]) -> Bools:
    """The region filter over needs × offers: a produce need's area holds the offer's origin;
    any other need lies in one of the offer's service areas (``filters.REGION_RULES``)."""
    prefixes = _Prefixes()
    need_regions = [n.region for n in need_list]
    need_at = prefixes.levels(need_regions, -1)
    offer_at = prefixes.levels([o.region for o in offer_list], -2)
    meets = np.zeros((len(need_list), len(offer_list)), dtype=bool)
    origin = np.array([region_rule(n.category) == "origin" for n in need_list])
    if origin.any():
        need_prefix = [significant_prefix(r) for r in need_regions]
        for length in _LENGTHS:
            rows = origin & np.array([len(p) == length for p in need_prefix])
            if rows.any():
                meets[rows] = need_at[length][rows][:, None] == offer_at[length][None, :]
    served = ~origin
    if served.any():
        for j, offer in enumerate(offer_list):
            for area in offer.service_area:
                prefix = significant_prefix(area)
                meets[:, j] |= served & (need_at[len(prefix)] == prefixes.code(prefix))
    return meets


def _top(scores: Floats, passing: Bools, keep: int, axis: int) -> Bools:
    """The ``keep`` best-scoring passing cells along ``axis`` (ties: the lower index)."""
    ranked = np.where(passing, scores, -np.inf)
    if axis == 0:
        ranked = ranked.T
    order = np.argsort(-ranked, axis=1, kind="stable")[:, :keep]
    chosen = np.zeros_like(ranked, dtype=bool)
    np.put_along_axis(chosen, order, True, axis=1)
    chosen &= np.isfinite(ranked)
    return chosen.T if axis == 0 else chosen


@pausing_collection
def candidate_pairs(
    needs: Iterable[NeedItem],
    offers: Iterable[OfferItem],
    *,
    today: date,
    excluded: frozenset[tuple[str, str]] = frozenset(),
    keep: int | None = None,
) -> CandidatePairs:
    """The pairs that pass every filter, in (need id, offer id) order, with their score terms;
    with ``keep``, only each listing's best (see the module's description)."""
    need_list = sorted((n for n in needs if n.remaining > 0), key=lambda n: n.id)
    offer_list = sorted((o for o in offers if o.remaining > 0), key=lambda o: o.id)
    if not need_list or not offer_list:
        nothing = np.zeros(0, dtype=np.int64)
        return CandidatePairs(
            (), needs=need_list, offers=offer_list, need_rows=nothing, offer_rows=nothing, scores=np.zeros(0)
        )

    passing = ~_equal([n.party.organisation_id for n in need_list], [o.organisation_id for o in offer_list])
    passing &= _lookup(
        [n.category for n in need_list],
        [o.category for o in offer_list],
        lambda need_category, offer_category: can_serve(offer_category, need_category),
        bool,
    ).astype(bool)
    need_open = np.array([n.window_end is None or n.window_end >= today for n in need_list])
    offer_open = np.array([o.window_end is None or o.window_end >= today for o in offer_list])
    passing &= need_open[:, None] & offer_open[None, :]
    passing &= _meets_regions(need_list, offer_list)
    need_start = np.array([_days(n.window_start, _FAR_PAST) for n in need_list])
    need_end = np.array([_days(n.window_end, _FAR_FUTURE) for n in need_list])
    offer_start = np.array([_days(o.window_start, _FAR_PAST) for o in offer_list])
    offer_end = np.array([_days(o.window_end, _FAR_FUTURE) for o in offer_list])
    passing &= ~((offer_end[None, :] < need_start[:, None]) | (need_end[:, None] < offer_start[None, :]))
    passing &= _equal([n.dimension for n in need_list], [o.dimension for o in offer_list])
    if excluded:
        need_row = {n.id: i for i, n in enumerate(need_list)}
        offer_col = {o.id: j for j, o in enumerate(offer_list)}
        for need_id, offer_id in excluded:
            if need_id in need_row and offer_id in offer_col:
                passing[need_row[need_id], offer_col[offer_id]] = False

    # the rest of the filters only where a requirement, a price range or a programme applies
    need_demands = np.array(
        [
            bool(
                n.requirements.required_certifications
                or n.requirements.required_grade
                or n.requirements.required_standards
                or n.requirements.required_packaging
                or n.requirements.price_min is not None
                or n.requirements.price_max is not None
            )
            for n in need_list
        ]
    )
    offer_rules = np.array([o.eligibility is not None for o in offer_list])
    for i, j in zip(*np.nonzero(passing & (need_demands[:, None] | offer_rules[None, :])), strict=True):
        if first_failure(need_list[i], offer_list[j], today) is not None:
            passing[i, j] = False

    need_remaining = np.array([n.remaining for n in need_list])
    offer_remaining = np.array([o.remaining for o in offer_list])
    larger = np.maximum(need_remaining[:, None], offer_remaining[None, :])
    smaller = np.minimum(need_remaining[:, None], offer_remaining[None, :])
    quantity_fit = np.divide(smaller, larger, out=np.zeros_like(larger), where=larger > 0)
    proximity = _proximity([n.region for n in need_list], [o.region for o in offer_list])
    urgency = np.array([urgency_of(n, today) for n in need_list])
    record = np.array([o.fulfilment_rate for o in offer_list])
    prefers = np.array([n.requirements.has_preferences for n in need_list], dtype=bool)

    rows, cols = np.nonzero(passing)
    quality = np.ones(len(rows))
    for k in np.flatnonzero(prefers[rows]).tolist():
        quality[k] = quality_of(need_list[rows[k]], offer_list[cols[k]])
    # summed in the order of TERMS, as Candidate.of sums them: the same floats
    pair_score = (
        WEIGHTS["proximity"] * proximity[rows, cols]
        + WEIGHTS["urgency"] * urgency[rows]
        + WEIGHTS["quantity_fit"] * quantity_fit[rows, cols]
        + WEIGHTS["quality"] * quality
        + WEIGHTS["record"] * record[cols]
    )
    if keep is not None:
        score = np.full(passing.shape, -np.inf)
        score[rows, cols] = pair_score
        chosen = _top(score, passing, keep, axis=1) | _top(score, passing, keep, axis=0)
        selected = chosen[rows, cols]
        rows, cols, quality, pair_score = (
            rows[selected],
            cols[selected],
            quality[selected],
            pair_score[selected],
        )

    terms = zip(  # in the order of TERMS
        proximity[rows, cols].tolist(),
        urgency[rows].tolist(),
        quantity_fit[rows, cols].tolist(),
        quality.tolist(),
        record[cols].tolist(),
        strict=True,
    )
    row_list, col_list = rows.tolist(), cols.tolist()
    return CandidatePairs(
        map(
            Candidate._make,
            zip(
                map(need_list.__getitem__, row_list),
                map(offer_list.__getitem__, col_list),
                terms,
                pair_score.tolist(),
                strict=True,
            ),
        ),
        needs=need_list,
        offers=offer_list,
        need_rows=rows.astype(np.int64),
        offer_rows=cols.astype(np.int64),
        scores=pair_score,
    )
