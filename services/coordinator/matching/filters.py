"""The hard filters a need and an offer must pass to be paired, and the score of a pair.

Filters, in order (:func:`first_failure` names the first one a pair fails):
not the same organisation; the offer's category can serve the need's (shared taxonomy);
neither window has ended; the regions meet as the need's category family defines
(:data:`REGION_RULES`: produce comes *from* the need's region, everything else is brought *to*
it by the offer's service area); the time windows overlap; the units measure the same thing
(converted through pint); the offer meets every ``required_*`` of the need (certifications,
grade, standards, packaging) and its price lies in the need's range; and a programme's
eligibility rules admit the needing organisation. ``preferred_*`` are only scored.

Score (0 to 1) = 0.30 proximity + 0.20 urgency + 0.20 quantity fit + 0.20 quality
+ 0.10 the offering organisation's fulfilment record. Every term is kept for the explanation.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from shared.regions import covers
from shared.requirements import QualitiesOf, RequirementsOf, qualities_of, requirements_of
from shared.taxonomy import can_serve, root_of
from shared.units import base_factor

__all__ = [
    "REGION_RULES",
    "TERMS",
    "WEIGHTS",
    "Candidate",
    "CandidatePairs",
    "NeedItem",
    "OfferItem",
    "Party",
    "Reason",
    "candidates_for",
    "first_failure",
    "offer_price_in_need_unit",
    "passed_filters",
    "proximity_of",
    "quality_of",
    "region_rule",
    "urgency_of",
]

# What a need's region means, per top category: ``origin`` — the offer's own region (where the
# produce is grown) must lie within it (a county-wide procurement takes lots from any village of
# the county); ``service_area`` — the offer's service area must cover it (a course's catchment,
# where a truck goes, where a programme pays, where a venue or a service is available).
REGION_RULES: dict[str, str] = {"produce": "origin"}

WEIGHTS: dict[str, float] = {
    "proximity": 0.30,
    "urgency": 0.20,
    "quantity_fit": 0.20,
    "quality": 0.20,
    "record": 0.10,
}


@dataclass(frozen=True)
class Party:
    """The organisation behind a need, as eligibility rules see it."""

    organisation_id: str
    kind: str
    region: str
    certifications: frozenset[str] = frozenset()


@dataclass(frozen=True)
class NeedItem:
    id: str
    party: Party
    category: str
    remaining: float  # in the base unit of its dimension (kg, yuan, person, s)
    unit: str
    region: str
    window_start: date | None = None
    window_end: date | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    published_at: datetime | None = None

    @cached_property
    def requirements(self) -> RequirementsOf:
        return requirements_of(self.attributes)

    @cached_property
    def dimension(self) -> str:
        return base_factor(self.unit)[1]


@dataclass(frozen=True)
class OfferItem:
    id: str
    organisation_id: str
    category: str
    remaining: float  # in the base unit of its dimension
    unit: str
    region: str
    service_area: tuple[str, ...]
    window_start: date | None = None
    window_end: date | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    fulfilment_rate: float = 0.5

    @cached_property
    def qualities(self) -> QualitiesOf:
        return qualities_of(self.attributes)

    @cached_property
    def dimension(self) -> str:
        return base_factor(self.unit)[1]

    @cached_property
    def eligibility(self) -> Mapping[str, Any] | None:
        rules = self.attributes.get("eligibility")
        return rules if isinstance(rules, Mapping) else None

    @cached_property
    def max_per_organisation(self) -> float | None:
        """A programme's ``max_amount`` per organisation, in base units."""
        rules = self.eligibility
        if not rules or rules.get("max_amount") in (None, ""):
            return None
        return float(rules["max_amount"]) * base_factor(self.unit)[0]


@dataclass(frozen=True)
class Reason:
    """Why a filter passed or failed: a code and its parameters (``shared.reasons`` renders it)."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params)}


TERMS: tuple[str, ...] = tuple(WEIGHTS)  # the score's terms, in the order they are summed


class Candidate(NamedTuple):
    """A pair that passed every filter, with its score and the reasons for both. (Tuples, the
    terms as a tuple too: a full solve at 100k open items makes over a million.)"""

    need: NeedItem
    offer: OfferItem
    term_values: tuple[float, ...]  # each term's value, in the order of ``TERMS``
    score: float

    @classmethod
    def of(cls, need: NeedItem, offer: OfferItem, terms: Mapping[str, float]) -> "Candidate":
        """The candidate with these score terms, its score their weighted sum in ``TERMS`` order
        (the matrix filter sums its columns in the same order: the same floats)."""
        values = tuple(float(terms[name]) for name in TERMS)
        score = sum(WEIGHTS[name] * value for name, value in zip(TERMS, values, strict=True))
        return cls(need, offer, values, score)

    @property
    def terms(self) -> dict[str, float]:
        """Each score term by name."""
        return dict(zip(TERMS, self.term_values, strict=True))

    @property
    def checks(self) -> tuple[Reason, ...]:
        """The filters the pair passed, with what each found (computed when explained)."""
        return passed_filters(self.need, self.offer)


class CandidatePairs(tuple[Candidate, ...]):
    """Candidates as the matrix filter finds them, with the rows it found them at: each
    candidate's need is ``needs[need_rows[k]]`` and its offer ``offers[offer_rows[k]]``
    (``needs`` and ``offers`` in id order), and its score is ``scores[k]``. Immutable, so
    the rows stay true; the allocation indexes a partition by them instead of by ids."""

    needs: tuple[NeedItem, ...]
    offers: tuple[OfferItem, ...]
    need_rows: npt.NDArray[np.int64]
    offer_rows: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]

    def __new__(
        cls,
        candidates: Iterable[Candidate],
        *,
        needs: Sequence[NeedItem],
        offers: Sequence[OfferItem],
        need_rows: npt.NDArray[np.int64],
        offer_rows: npt.NDArray[np.int64],
        scores: npt.NDArray[np.float64],
    ) -> "CandidatePairs":
        made = super().__new__(cls, candidates)
        if not len(made) == len(need_rows) == len(offer_rows) == len(scores):
            raise ValueError("one row of each kind per candidate")
        made.needs, made.offers = tuple(needs), tuple(offers)
        made.need_rows, made.offer_rows, made.scores = need_rows, offer_rows, scores
        return made


def region_rule(need_category: str) -> str:
    """What a need's region means for its category family: ``origin`` or ``service_area``."""
    return REGION_RULES.get(root_of(need_category), "service_area")


def _window(start: date | None, end: date | None) -> str:
    return f"{start or '…'}–{end or '…'}"


def first_failure(need: NeedItem, offer: OfferItem, today: date | None) -> Reason | None:
    """The first hard filter the pair fails, with why; None if it passes them all.

    The order is the order a person would check: who, what, when it ended, where, when,
    how it is measured, what quality is required, what price, who may apply.
    """
    if need.party.organisation_id == offer.organisation_id:
        return Reason("same_organisation")
    if not can_serve(offer.category, need.category):
        return Reason("category_mismatch", {"offer_category": offer.category, "need_category": need.category})
    if today is not None:
        if need.window_end is not None and need.window_end < today:
            return Reason("need_window_expired", {"window_end": need.window_end.isoformat()})
        if offer.window_end is not None and offer.window_end < today:
            return Reason("offer_window_expired", {"window_end": offer.window_end.isoformat()})
    if region_rule(need.category) == "origin":
        if not covers(need.region, offer.region):
            return Reason("region_origin_outside", {"origin": offer.region, "area": need.region})
    elif not any(covers(a, need.region) for a in offer.service_area):
        return Reason("region_not_served", {"service_area": list(offer.service_area), "region": need.region})
    if (need.window_start and offer.window_end and offer.window_end < need.window_start) or (
        offer.window_start and need.window_end and need.window_end < offer.window_start
    ):
        return Reason(
            "window_disjoint",
            {
                "need_window": _window(need.window_start, need.window_end),
                "offer_window": _window(offer.window_start, offer.window_end),
            },
        )
    if need.dimension != offer.dimension:
        return Reason("units_mismatch", {"offer_unit": offer.unit, "need_unit": need.unit})
    wanted, has = need.requirements, offer.qualities
    if not wanted.required_certifications <= has.certifications:
        missing = sorted(wanted.required_certifications - has.certifications)
        return Reason("missing_certifications", {"missing": missing})
    if wanted.required_grade is not None and wanted.required_grade != has.grade:
        return Reason("wrong_grade", {"offered": has.grade, "required": wanted.required_grade})
    if not wanted.required_standards <= has.standards:
        return Reason("missing_standards", {"missing": sorted(wanted.required_standards - has.standards)})
    if wanted.required_packaging is not None and wanted.required_packaging != has.packaging:
        return Reason("wrong_packaging", {"offered": has.packaging, "required": wanted.required_packaging})
    price = offer_price_in_need_unit(need, offer)
    if price is not None:
        if wanted.price_max is not None and price > wanted.price_max + PRICE_TOLERANCE:
            return Reason(
                "price_above_max",
                {"price": _money(price), "unit": need.unit, "price_max": _money(wanted.price_max)},
            )
        if wanted.price_min is not None and price < wanted.price_min - PRICE_TOLERANCE:
            return Reason(
                "price_below_min",
                {"price": _money(price), "unit": need.unit, "price_min": _money(wanted.price_min)},
            )
    rules = offer.eligibility
    if rules is not None:
        return _ineligible(need.party, rules)
    return None


def passed_filters(need: NeedItem, offer: OfferItem) -> tuple[Reason, ...]:
    """The filters a pair that passes them all passed, each with what it found."""
    reasons = [
        Reason("different_organisations"),
        Reason("category", {"offer_category": offer.category, "need_category": need.category}),
    ]
    if region_rule(need.category) == "origin":
        reasons.append(Reason("region_origin", {"origin": offer.region, "area": need.region}))
    else:
        area = next((a for a in offer.service_area if covers(a, need.region)), need.region)
        reasons.append(Reason("region_service_area", {"area": area, "region": need.region}))
    if not (need.window_start or need.window_end) or not (offer.window_start or offer.window_end):
        reasons.append(Reason("window_open_ended"))
    else:
        reasons.append(
            Reason(
                "window_overlap",
                {
                    "need_window": _window(need.window_start, need.window_end),
                    "offer_window": _window(offer.window_start, offer.window_end),
                },
            )
        )
    reasons.append(Reason("units", {"offer_unit": offer.unit, "need_unit": need.unit}))
    wanted = need.requirements
    if wanted.required_certifications:
        reasons.append(Reason("required_certifications", {"held": sorted(wanted.required_certifications)}))
    if wanted.required_grade is not None:
        reasons.append(Reason("required_grade", {"grade": wanted.required_grade}))
    if wanted.required_standards:
        reasons.append(Reason("required_standards", {"held": sorted(wanted.required_standards)}))
    if wanted.required_packaging is not None:
        reasons.append(Reason("required_packaging", {"packaging": wanted.required_packaging}))
    if wanted.price_min is not None or wanted.price_max is not None:
        price = offer_price_in_need_unit(need, offer)
        if price is None:
            reasons.append(Reason("price_unstated"))
        else:
            reasons.append(Reason("price_in_range", {"price": _money(price), "unit": need.unit}))
    if offer.eligibility is not None:
        reasons.append(_eligible(need.party, offer.eligibility))
    return tuple(reasons)


PRICE_TOLERANCE = 1e-6


def _money(value: float) -> str:
    return f"{value:.2f}"


def offer_price_in_need_unit(need: NeedItem, offer: OfferItem) -> float | None:
    """The offer's price per one unit of the need (yuan), or None if it states none."""
    price = offer.qualities.price_per_unit
    if price is None or need.dimension != offer.dimension:
        return None
    return price / base_factor(offer.unit)[0] * base_factor(need.unit)[0]


def _ineligible(party: Party, rules: Mapping[str, Any]) -> Reason | None:
    kinds = list(rules.get("organisation_kinds") or [])
    if kinds and party.kind not in kinds:
        return Reason("eligibility_kind", {"admitted": kinds, "kind": party.kind})
    regions = list(rules.get("regions") or [])
    if regions and not any(covers(r, party.region) for r in regions):
        return Reason("eligibility_region", {"regions": regions, "region": party.region})
    required = set(rules.get("required_certifications") or [])
    if not required <= party.certifications:
        return Reason("eligibility_certifications", {"missing": sorted(required - party.certifications)})
    return None


def _eligible(party: Party, rules: Mapping[str, Any]) -> Reason:
    params: dict[str, Any] = {"kind": party.kind}
    if rules.get("regions"):
        params["regions"] = list(rules["regions"])
    if rules.get("required_certifications"):
        params["held"] = sorted(rules["required_certifications"])
    if rules.get("max_amount") not in (None, ""):
        params["max_amount"] = str(rules["max_amount"])
    return Reason("eligibility", params)


def proximity_of(need_region: str, offer_region: str) -> float:
    for length, value in ((12, 1.0), (9, 0.8), (6, 0.6), (4, 0.4), (2, 0.2)):
        same = need_region[:length] == offer_region[:length]
        if len(need_region) >= length and len(offer_region) >= length and same:
            return value
    return 0.0


def urgency_of(need: NeedItem, today: date) -> float:
    if need.window_end is not None:
        days_left = (need.window_end - today).days
        return min(1.0, max(0.1, 1.0 - days_left / 90))
    if need.published_at is not None:
        waited = (today - need.published_at.date()).days
        return min(1.0, 0.3 + max(0, waited) / 60)
    return 0.3


def quality_of(need: NeedItem, offer: OfferItem) -> float:
    """How well the offer meets the need's preferences (required ones are filters): 1 if none."""
    wanted, has = need.requirements, offer.qualities
    parts: list[float] = []
    if wanted.preferred_certifications:
        held = wanted.preferred_certifications & has.certifications
        parts.append(len(held) / len(wanted.preferred_certifications))
    if wanted.preferred_grade:
        parts.append(1.0 if wanted.preferred_grade == has.grade else 0.5 if has.grade else 0.25)
    if wanted.preferred_standards:
        parts.append(len(wanted.preferred_standards & has.standards) / len(wanted.preferred_standards))
    if wanted.preferred_packaging:
        parts.append(1.0 if wanted.preferred_packaging == has.packaging else 0.5)
    return sum(parts) / len(parts) if parts else 1.0


def _terms(need: NeedItem, offer: OfferItem, today: date) -> dict[str, float]:
    larger = max(need.remaining, offer.remaining)
    return {
        "proximity": proximity_of(need.region, offer.region),
        "urgency": urgency_of(need, today),
        "quantity_fit": min(need.remaining, offer.remaining) / larger if larger > 0 else 0.0,
        "quality": quality_of(need, offer),
        "record": offer.fulfilment_rate,
    }


def candidates_for(
    needs: Iterable[NeedItem],
    offers: Iterable[OfferItem],
    *,
    today: date,
    excluded: frozenset[tuple[str, str]] = frozenset(),
) -> list[Candidate]:
    """Every (need, offer) pair that passes the filters, in a deterministic order.

    ``excluded`` holds (need id, offer id) pairs never to propose again (declined, expired).
    """
    offers = sorted((o for o in offers if o.remaining > 0), key=lambda o: o.id)
    found: list[Candidate] = []
    for need in sorted((n for n in needs if n.remaining > 0), key=lambda n: n.id):
        for offer in offers:
            if (need.id, offer.id) in excluded:
                continue
            if first_failure(need, offer, today) is None:
                found.append(Candidate.of(need, offer, _terms(need, offer, today)))
    return found
