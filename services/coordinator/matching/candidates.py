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
    NeedItem,
    OfferItem,
    first_failure,
    proximity_of,
    quality_of,
    region_rule,
    urgency_of,
)
from shared.regions import covers
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


def _days(value: date | None, missing: int) -> int:
    return value.toordinal() if value is not None else missing


def _meets_region(need: tuple[str, str], offer: tuple[str, tuple[str, ...]]) -> bool:
    (rule, need_region), (offer_region, service_area) = need, offer
    if rule == "origin":
        return covers(need_region, offer_region)
    return any(covers(area, need_region) for area in service_area)


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


def candidate_pairs(
    needs: Iterable[NeedItem],
    offers: Iterable[OfferItem],
    *,
    today: date,
    excluded: frozenset[tuple[str, str]] = frozenset(),
    keep: int | None = None,
) -> list[Candidate]:
    """The pairs that pass every filter, in (need id, offer id) order, with their score terms;
    with ``keep``, only each listing's best (see the module's description)."""
    need_list = sorted((n for n in needs if n.remaining > 0), key=lambda n: n.id)
    offer_list = sorted((o for o in offers if o.remaining > 0), key=lambda o: o.id)
    if not need_list or not offer_list:
        return []

    passing = _lookup(
        [n.party.organisation_id for n in need_list],
        [o.organisation_id for o in offer_list],
        str.__ne__,
        bool,
    ).astype(bool)
    passing &= _lookup(
        [n.category for n in need_list],
        [o.category for o in offer_list],
        lambda need_category, offer_category: can_serve(offer_category, need_category),
        bool,
    ).astype(bool)
    need_open = np.array([n.window_end is None or n.window_end >= today for n in need_list])
    offer_open = np.array([o.window_end is None or o.window_end >= today for o in offer_list])
    passing &= need_open[:, None] & offer_open[None, :]
    passing &= _lookup(
        [(region_rule(n.category), n.region) for n in need_list],
        [(o.region, o.service_area) for o in offer_list],
        _meets_region,
        bool,
    ).astype(bool)
    need_start = np.array([_days(n.window_start, _FAR_PAST) for n in need_list])
    need_end = np.array([_days(n.window_end, _FAR_FUTURE) for n in need_list])
    offer_start = np.array([_days(o.window_start, _FAR_PAST) for o in offer_list])
    offer_end = np.array([_days(o.window_end, _FAR_FUTURE) for o in offer_list])
    passing &= ~((offer_end[None, :] < need_start[:, None]) | (need_end[:, None] < offer_start[None, :]))
    passing &= _lookup(
        [n.dimension for n in need_list], [o.dimension for o in offer_list], str.__eq__, bool
    ).astype(bool)
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
    proximity = _lookup(
        [n.region for n in need_list], [o.region for o in offer_list], proximity_of, float
    ).astype(float)
    urgency = np.array([urgency_of(n, today) for n in need_list])
    record = np.array([o.fulfilment_rate for o in offer_list])
    prefers = [n.requirements.has_preferences for n in need_list]

    rows, cols = np.nonzero(passing)
    quality = np.ones(len(rows))
    for k, (i, j) in enumerate(zip(rows, cols, strict=True)):
        if prefers[i]:
            quality[k] = quality_of(need_list[i], offer_list[j])
    if keep is not None:
        score = np.full(passing.shape, -np.inf)
        score[rows, cols] = (
            WEIGHTS["proximity"] * proximity[rows, cols]
            + WEIGHTS["urgency"] * urgency[rows]
            + WEIGHTS["quantity_fit"] * quantity_fit[rows, cols]
            + WEIGHTS["quality"] * quality
            + WEIGHTS["record"] * record[cols]
        )
        chosen = _top(score, passing, keep, axis=1) | _top(score, passing, keep, axis=0)
        selected = chosen[rows, cols]
        rows, cols, quality = rows[selected], cols[selected], quality[selected]

    return [
        Candidate(
            need_list[i],
            offer_list[j],
            {
                "proximity": float(proximity[i, j]),
                "urgency": float(urgency[i]),
                "quantity_fit": float(quantity_fit[i, j]),
                "quality": float(quality[k]),
                "record": float(record[j]),
            },
        )
        for k, (i, j) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True))
    ]
