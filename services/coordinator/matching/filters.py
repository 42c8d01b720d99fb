"""The hard filters a need and an offer must pass to be paired, and the score of a pair.

Filters: not the same organisation; the offer's category can serve the need's (shared
taxonomy); the offer's service area covers the need's region along the administrative
hierarchy; the time windows overlap; the units measure the same thing (converted through
pint); and a government programme's eligibility rules admit the needing organisation.

Score (0 to 1) = 0.30 proximity + 0.20 urgency + 0.20 quantity fit + 0.20 quality
+ 0.10 the offering organisation's fulfilment record. Every term is kept for the explanation.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any

from shared.regions import covers
from shared.taxonomy import can_serve
from shared.units import base_factor

__all__ = ["WEIGHTS", "Candidate", "Check", "NeedItem", "OfferItem", "Party", "candidates_for"]

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
class Check:
    name: str
    detail: str


@dataclass(frozen=True)
class Candidate:
    """A pair that passed every filter, with its score and the reasons for both."""

    need: NeedItem
    offer: OfferItem
    checks: tuple[Check, ...]
    terms: Mapping[str, float]

    @cached_property
    def score(self) -> float:
        return sum(WEIGHTS[name] * value for name, value in self.terms.items())


def _check_pair(need: NeedItem, offer: OfferItem) -> tuple[Check, ...] | None:
    """The filters passed, or None if one fails."""
    if need.party.organisation_id == offer.organisation_id:
        return None
    if not can_serve(offer.category, need.category):
        return None
    area = next((a for a in offer.service_area if covers(a, need.region)), None)
    if area is None:
        return None
    if (need.window_start and offer.window_end and offer.window_end < need.window_start) or (
        offer.window_start and need.window_end and need.window_end < offer.window_start
    ):
        return None
    if base_factor(need.unit)[1] != base_factor(offer.unit)[1]:
        return None
    checks = [
        Check("different_organisations", "the two sides are different organisations"),
        Check("category", f"{offer.category} serves {need.category}"),
        Check("region", f"the offer's service area {area} covers {need.region}"),
        Check("window", _window_text(need, offer)),
        Check("units", f"{offer.unit} and {need.unit} measure the same thing"),
    ]
    rules = offer.eligibility
    if rules is not None:
        eligible = _eligibility(need.party, rules)
        if eligible is None:
            return None
        checks.append(eligible)
    return tuple(checks)


def _window_text(need: NeedItem, offer: OfferItem) -> str:
    if not (need.window_start or need.window_end) or not (offer.window_start or offer.window_end):
        return "at least one side is open-ended in time"
    return (
        f"the windows overlap ({need.window_start}–{need.window_end} and "
        f"{offer.window_start}–{offer.window_end})"
    )


def _eligibility(party: Party, rules: Mapping[str, Any]) -> Check | None:
    kinds = list(rules.get("organisation_kinds") or [])
    if kinds and party.kind not in kinds:
        return None
    regions = list(rules.get("regions") or [])
    if regions and not any(covers(r, party.region) for r in regions):
        return None
    required = set(rules.get("required_certifications") or [])
    if not required <= party.certifications:
        return None
    parts = [f"kind {party.kind} admitted" if kinds else "any kind admitted"]
    if regions:
        parts.append(f"region {party.region} within {', '.join(regions)}")
    if required:
        parts.append(f"holds {', '.join(sorted(required))}")
    if rules.get("max_amount") not in (None, ""):
        parts.append(f"at most {rules['max_amount']} per organisation")
    return Check("eligibility", "the programme's rules admit the organisation: " + "; ".join(parts))


def _proximity(need_region: str, offer_region: str) -> float:
    for length, value in ((12, 1.0), (9, 0.8), (6, 0.6), (4, 0.4), (2, 0.2)):
        same = need_region[:length] == offer_region[:length]
        if len(need_region) >= length and len(offer_region) >= length and same:
            return value
    return 0.0


def _urgency(need: NeedItem, today: date) -> float:
    if need.window_end is not None:
        days_left = (need.window_end - today).days
        return min(1.0, max(0.1, 1.0 - days_left / 90))
    if need.published_at is not None:
        waited = (today - need.published_at.date()).days
        return min(1.0, 0.3 + max(0, waited) / 60)
    return 0.3


def _quality(need: NeedItem, offer: OfferItem) -> float:
    parts: list[float] = []
    required = set(need.attributes.get("required_certifications") or [])
    if required:
        held = set(offer.attributes.get("certifications") or [])
        parts.append(len(required & held) / len(required))
    wanted, offered = need.attributes.get("grade"), offer.attributes.get("grade")
    if wanted and offered:
        parts.append(1.0 if wanted == offered else 0.5)
    return sum(parts) / len(parts) if parts else 1.0


def _terms(need: NeedItem, offer: OfferItem, today: date) -> dict[str, float]:
    larger = max(need.remaining, offer.remaining)
    return {
        "proximity": _proximity(need.region, offer.region),
        "urgency": _urgency(need, today),
        "quantity_fit": min(need.remaining, offer.remaining) / larger if larger > 0 else 0.0,
        "quality": _quality(need, offer),
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
            checks = _check_pair(need, offer)
            if checks is not None:
                found.append(Candidate(need, offer, checks, _terms(need, offer, today)))
    return found
