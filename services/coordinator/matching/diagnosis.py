"""Why a listing is not (fully) matched: the nearest counterparts and the filter each fails.

Pure. For a need, every offer that could be relevant is run through the hard filters in
their order (:func:`~services.coordinator.matching.filters.first_failure`); the nearest are
those that got furthest through the filters, then the closest in region. A counterpart that
passes every filter is listed too (with no failure): it is then allocated to other needs or
already proposed. The same holds for an offer against the needs.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from services.coordinator.matching.filters import NeedItem, OfferItem, Reason, first_failure

__all__ = ["FILTER_STEPS", "Nearest", "nearest_needs", "nearest_offers", "step_of"]

# The hard filters in the order they are checked, and the failure codes of each.
FILTER_STEPS: tuple[tuple[str, frozenset[str]], ...] = (
    ("different_organisations", frozenset({"same_organisation"})),
    ("category", frozenset({"category_mismatch"})),
    ("window_open", frozenset({"need_window_expired", "offer_window_expired"})),
    ("region", frozenset({"region_origin_outside", "region_not_served"})),
    ("window_overlap", frozenset({"window_disjoint"})),
    ("units", frozenset({"units_mismatch"})),
    ("required_certifications", frozenset({"missing_certifications"})),
    ("required_grade", frozenset({"wrong_grade"})),
    ("required_standards", frozenset({"missing_standards"})),
    ("required_packaging", frozenset({"wrong_packaging"})),
    ("price", frozenset({"price_above_max", "price_below_min"})),
    ("eligibility", frozenset({"eligibility_kind", "eligibility_region", "eligibility_certifications"})),
    ("not_refused", frozenset({"previously_refused"})),
)


def step_of(code: str) -> int:
    """The index of the filter step a failure code belongs to."""
    return next(i for i, (_, codes) in enumerate(FILTER_STEPS) if code in codes)


@dataclass(frozen=True)
class Nearest:
    """A counterpart of the diagnosed listing, the filter it fails (None: it passes them all)
    and the filters it passed before that."""

    need: NeedItem
    offer: OfferItem
    failed: Reason | None
    passed: tuple[str, ...]


def _closeness(a: str, b: str) -> int:
    same = 0
    while same < min(len(a), len(b)) and a[same] == b[same]:
        same += 1
    return same


def _judge(need: NeedItem, offer: OfferItem, today: date, refused: frozenset[tuple[str, str]]) -> Nearest:
    failed = first_failure(need, offer, today)
    if failed is None and (need.id, offer.id) in refused:
        failed = Reason("previously_refused")
    reached = len(FILTER_STEPS) if failed is None else step_of(failed.code)
    return Nearest(need, offer, failed, tuple(name for name, _ in FILTER_STEPS[:reached]))


def _nearest(found: list[Nearest], here: str, there: list[str], limit: int) -> list[Nearest]:
    order = sorted(
        range(len(found)),
        key=lambda i: (-len(found[i].passed), -_closeness(here, there[i]), there[i], i),
    )
    return [found[i] for i in order[:limit]]


def nearest_offers(
    need: NeedItem,
    offers: Iterable[OfferItem],
    *,
    today: date,
    refused: frozenset[tuple[str, str]] = frozenset(),
    limit: int = 10,
) -> list[Nearest]:
    """The ``limit`` offers nearest to serving ``need``, each with the filter it fails."""
    pool = sorted(offers, key=lambda o: o.id)
    found = [_judge(need, offer, today, refused) for offer in pool]
    return _nearest(found, need.region, [o.region for o in pool], limit)


def nearest_needs(
    offer: OfferItem,
    needs: Iterable[NeedItem],
    *,
    today: date,
    refused: frozenset[tuple[str, str]] = frozenset(),
    limit: int = 10,
) -> list[Nearest]:
    """The ``limit`` needs ``offer`` comes nearest to serving, each with the filter it fails."""
    pool = sorted(needs, key=lambda n: n.id)
    found = [_judge(need, offer, today, refused) for need in pool]
    return _nearest(found, offer.region, [n.region for n in pool], limit)
