"""Keeps the coordinator's proposals optimal as the book changes, one partition at a time.

A partition is the top category branch of the needs and the county they lie in
(``produce:610124``). Every event that can change the best allocation of a partition
re-solves just that partition: the needs in it, with what they still need beyond matches
that already hold capacity, against every offer that can serve them, with what the offer
has left after its matches elsewhere. Proposals that survive unchanged are kept; the others
are withdrawn and the new ones proposed, each with an explanation. Match ids derive from the
causing event, so the same history yields the same matches.
"""

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from services.coordinator.book.models import BookNeed, BookOffer, BookOfferArea
from services.coordinator.journal.service import emit
from services.coordinator.matches.models import Match
from services.coordinator.matching import Allocation, NeedItem, OfferItem, Party, allocate, candidates_for
from services.coordinator.matching.filters import WEIGHTS
from services.coordinator.registry.models import RegisteredOrganisation
from shared.events.catalogue import CATALOGUE
from shared.events.data import MatchData
from shared.events.envelope import derived_event_id
from shared.regions import significant_prefix
from shared.taxonomy import SERVES, is_within, root_of
from shared.units import base_factor

__all__ = [
    "CREATED_MATCHES",
    "Cause",
    "MatchPolicy",
    "change_status",
    "emit_match",
    "expire_due",
    "partition_of",
    "partitions_for_offer",
    "resolve",
]

ACTIVE = ("proposed", "confirmed", "fulfilled")
CREATED_MATCHES = "sifang.created_matches"  # session.info key: ids of matches proposed in it
_NAMESPACE = uuid.UUID("5b1c3f0e-8a52-4d0e-9f57-4c1f5a9d2e11")


@dataclass(frozen=True)
class MatchPolicy:
    fairness_cap: float = 0.5
    response_time: timedelta = timedelta(hours=72)
    coordinator_id: str = "coordinator"


@dataclass(frozen=True)
class Cause:
    """The event that set a change off: its id, correlation and time."""

    event_id: str
    correlation_id: str
    time: datetime


def partition_of(category: str, region: str) -> str:
    return f"{root_of(category)}:{region[:6]}"


def _roots_served_by(offer_category: str) -> set[str]:
    roots = {root_of(offer_category)}
    roots |= {
        root for root, branches in SERVES.items() if any(is_within(offer_category, b) for b in branches)
    }
    return roots


def _area_prefixes(county: str) -> list[str]:
    return [county[:2], county[:4], county]


def sync_offer_areas(session: Session, offer: BookOffer) -> None:
    """Index the offer's service area by significant prefix."""
    session.query(BookOfferArea).filter(BookOfferArea.offer_id == offer.id).delete()
    for prefix in sorted({significant_prefix(area) for area in offer.service_area}):
        session.add(BookOfferArea(offer_id=offer.id, prefix=prefix))


def partitions_for_offer(session: Session, offer: BookOffer) -> set[str]:
    """The partitions an offer can take part in, and those where it has matches."""
    prefixes = sorted({significant_prefix(a) for a in offer.service_area})
    conditions = []
    for root in _roots_served_by(offer.category):
        conditions += [BookNeed.category == root, BookNeed.category.startswith(root + ".")]
    query = (
        select(BookNeed.category, BookNeed.region)
        .where(BookNeed.status == "open", or_(*conditions))
        .where(or_(*(BookNeed.region.startswith(p) for p in prefixes)))
        .distinct()
    )
    found = {partition_of(category, region) for category, region in session.execute(query)}
    held = select(Match.partition).where(Match.offer_id == offer.id, Match.status.in_(ACTIVE)).distinct()
    return found | set(session.scalars(held))


def _base(quantity: Decimal, unit: str) -> float:
    return float(quantity) * base_factor(unit)[0]


def _in_unit(base: float, unit: str) -> Decimal:
    return Decimal(str(base / base_factor(unit)[0])).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)


def resolve(session: Session, partition: str, policy: MatchPolicy, cause: Cause) -> None:
    """Re-solve one partition and publish what changed."""
    root, county = partition.split(":")
    needs = list(
        session.scalars(
            select(BookNeed)
            .where(BookNeed.status == "open", BookNeed.region.startswith(county))
            .where(or_(BookNeed.category == root, BookNeed.category.startswith(root + ".")))
            .order_by(BookNeed.id)
        )
    )
    need_ids = [n.id for n in needs]
    matches_of_needs = (
        list(session.scalars(select(Match).where(Match.need_id.in_(need_ids)))) if needs else []
    )
    held_by_need: dict[str, float] = defaultdict(float)
    excluded: set[tuple[str, str]] = set()
    for m in matches_of_needs:
        if m.holds_capacity:
            held_by_need[m.need_id] += m.base_quantity
        if m.status in ("declined", "expired"):
            excluded.add((m.need_id, m.offer_id))

    offers = _offers_for(session, root, county)
    offer_ids = [o.id for o in offers]
    used_by_offer: dict[str, float] = defaultdict(float)
    if offers:
        for m in session.scalars(
            select(Match).where(Match.offer_id.in_(offer_ids), Match.status.in_(ACTIVE))
        ):
            if m.holds_capacity or m.partition != partition:
                used_by_offer[m.offer_id] += m.base_quantity

    parties = _parties(session, needs)
    records = _fulfilment_rates(session, {o.organisation_id for o in offers})
    need_items = [
        NeedItem(
            id=n.id,
            party=parties[n.organisation_id],
            category=n.category,
            remaining=max(0.0, _base(n.quantity, n.unit) - held_by_need[n.id]),
            unit=n.unit,
            region=n.region,
            window_start=n.window_start,
            window_end=n.window_end,
            attributes=n.attributes,
            published_at=n.published_at,
        )
        for n in needs
    ]
    offer_items = [
        OfferItem(
            id=o.id,
            organisation_id=o.organisation_id,
            category=o.category,
            remaining=max(0.0, _base(o.quantity, o.unit) - used_by_offer[o.id]),
            unit=o.unit,
            region=o.region,
            service_area=tuple(o.service_area),
            window_start=o.window_start,
            window_end=o.window_end,
            attributes=o.attributes,
            fulfilment_rate=records.get(o.organisation_id, 0.5),
        )
        for o in offers
    ]
    candidates = candidates_for(
        need_items, offer_items, today=cause.time.date(), excluded=frozenset(excluded)
    )
    allocations = {
        (a.candidate.need.id, a.candidate.offer.id): a
        for a in allocate(candidates, fairness_cap=policy.fairness_cap)
    }
    current = session.scalars(
        select(Match).where(Match.partition == partition, Match.status == "proposed").order_by(Match.id)
    )
    kept: set[tuple[str, str]] = set()
    for match in current:
        if match.accepted_by:
            continue  # holds capacity; only its parties or its sides' withdrawal end it
        proposal = allocations.get((match.need_id, match.offer_id))
        if proposal is not None and abs(proposal.quantity - match.base_quantity) < 1e-6:
            kept.add((match.need_id, match.offer_id))
            continue
        reason = _why_withdrawn(match, {n.id for n in needs}, set(offer_ids))
        change_status(session, match, "withdrawn", reason, policy, cause)
    books = {n.id: n for n in needs} | {o.id: o for o in offers}
    for key, allocation in sorted(allocations.items()):
        if key not in kept:
            _propose(session, partition, allocation, books, policy, cause)


def _offers_for(session: Session, root: str, county: str) -> list[BookOffer]:
    branches = sorted({root, *SERVES.get(root, ())})
    category = or_(
        *(c for b in branches for c in (BookOffer.category == b, BookOffer.category.startswith(b + ".")))
    )
    # Offers of a broader category (``training``) serve narrower needs (``training.livestream``).
    covering = select(BookOfferArea.offer_id).where(
        or_(BookOfferArea.prefix.in_(_area_prefixes(county)), BookOfferArea.prefix.startswith(county))
    )
    query = (
        select(BookOffer)
        .where(BookOffer.status == "open", BookOffer.id.in_(covering))
        .where(or_(category, BookOffer.category == root))
        .order_by(BookOffer.id)
    )
    return list(session.scalars(query))


def _parties(session: Session, needs: Iterable[BookNeed]) -> dict[str, Party]:
    needs = list(needs)
    org_ids = sorted({n.organisation_id for n in needs})
    registry = {
        o.id: o
        for o in session.scalars(select(RegisteredOrganisation).where(RegisteredOrganisation.id.in_(org_ids)))
    }
    certifications: dict[str, set[str]] = defaultdict(set)
    for offer in session.scalars(select(BookOffer).where(BookOffer.organisation_id.in_(org_ids))):
        certifications[offer.organisation_id] |= set(offer.attributes.get("certifications") or [])
    for need in needs:
        certifications[need.organisation_id] |= set(need.attributes.get("certifications") or [])
    parties: dict[str, Party] = {}
    for need in needs:
        org = registry.get(need.organisation_id)
        parties[need.organisation_id] = Party(
            organisation_id=need.organisation_id,
            kind=org.kind if org else need.kind,
            region=org.region if org else need.region,
            certifications=frozenset(certifications[need.organisation_id]),
        )
    return parties


def _fulfilment_rates(session: Session, org_ids: set[str]) -> dict[str, float]:
    """Each organisation's record as a provider: (fulfilled + 1) / (confirmed + 2)."""
    if not org_ids:
        return {}
    query = (
        select(Match.offer_organisation_id, Match.status, func.count())
        .where(Match.offer_organisation_id.in_(sorted(org_ids)), Match.status.in_(("confirmed", "fulfilled")))
        .group_by(Match.offer_organisation_id, Match.status)
    )
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for org, status, count in session.execute(query):
        counts[org][status] = count
    return {org: (c["fulfilled"] + 1) / (c["fulfilled"] + c["confirmed"] + 2) for org, c in counts.items()}


def _why_withdrawn(match: Match, open_needs: set[str], open_offers: set[str]) -> str:
    if match.need_id not in open_needs:
        return "the need was withdrawn or changed so that it no longer fits"
    if match.offer_id not in open_offers:
        return "the offer was withdrawn or changed so that it no longer fits"
    return "a better allocation of the partition replaced this proposal"


_LIMITS = {
    "need": ("the need is fully covered", "需求已全部满足"),
    "offer": ("the offer has nothing more to give", "供给已全部分配"),
    "fairness_cap": (
        "the fairness cap leaves the rest to other organisations",
        "公平上限：其余份额留给其他组织",
    ),
    "programme_max": ("the programme's maximum per organisation", "项目对每个组织的上限"),
    "shared": ("the rest serves other needs better", "其余部分更适合其他需求"),
}
_TERMS_ZH = {
    "proximity": "距离",
    "urgency": "紧迫度",
    "quantity_fit": "数量匹配",
    "quality": "品质/认证",
    "record": "履约记录",
}


def explain(allocation: Allocation, need: BookNeed, offer: BookOffer) -> dict[str, Any]:
    """Why this proposal: the filters it passed, each score term, and what limited it."""
    c = allocation.candidate
    quantity = format(_in_unit(allocation.quantity, need.unit).normalize(), "f")
    limit_en, limit_zh = _LIMITS[allocation.limited_by]
    terms = [
        {
            "name": name,
            "value": round(value, 4),
            "weight": WEIGHTS[name],
            "contribution": round(WEIGHTS[name] * value, 4),
        }
        for name, value in c.terms.items()
    ]
    strongest = max(c.terms, key=lambda name: WEIGHTS[name] * c.terms[name])
    return {
        "filters": [{"name": check.name, "detail": check.detail} for check in c.checks],
        "terms": terms,
        "score": round(c.score, 4),
        "limited_by": allocation.limited_by,
        "limited_by_text": limit_en,
        "summary_en": (
            f"Proposes {quantity} {need.unit} of “{offer.title}” for “{need.title}”. It passed all "
            f"{len(c.checks)} filters; score {c.score:.2f} of 1, mostly from {strongest}. "
            f"The quantity stops there because {limit_en}."
        ),
        "summary_zh": (
            f"建议由“{offer.title}”向“{need.title}”提供 {quantity} {need.unit}。"
            f"通过全部 {len(c.checks)} 项筛选；综合得分 {c.score:.2f}（满分 1），主要来自"
            f"{_TERMS_ZH[strongest]}。数量止于此，原因：{limit_zh}。"
        ),
    }


def _propose(
    session: Session,
    partition: str,
    allocation: Allocation,
    books: dict[str, Any],
    policy: MatchPolicy,
    cause: Cause,
) -> None:
    need: BookNeed = books[allocation.candidate.need.id]
    offer: BookOffer = books[allocation.candidate.offer.id]
    quantity = _in_unit(allocation.quantity, need.unit)
    offer_quantity = _in_unit(allocation.quantity, offer.unit)
    if quantity <= 0 or offer_quantity <= 0:
        return
    match = Match(
        id=str(uuid.uuid5(_NAMESPACE, f"{cause.event_id}/{need.id}/{offer.id}")),
        partition=partition,
        need_id=need.id,
        offer_id=offer.id,
        need_organisation_id=need.organisation_id,
        offer_organisation_id=offer.organisation_id,
        category=need.category,
        region=need.region,
        quantity=quantity,
        unit=need.unit,
        offer_quantity=offer_quantity,
        offer_unit=offer.unit,
        base_quantity=allocation.quantity,
        score=round(allocation.candidate.score, 6),
        status="proposed",
        accepted_by=[],
        fulfilled_quantity=Decimal(0),
        explanation=explain(allocation, need, offer),
        reason="",
        proposed_at=cause.time,
        expires_at=cause.time + policy.response_time,
        updated_at=cause.time,
        version=0,
    )
    session.add(match)
    session.flush()
    session.info.setdefault(CREATED_MATCHES, set()).add(match.id)
    emit_match(session, match, "proposed", policy, cause)


def change_status(
    session: Session, match: Match, status: str, reason: str, policy: MatchPolicy, cause: Cause
) -> None:
    match.status = status
    match.reason = reason
    match.updated_at = cause.time
    session.flush()
    emit_match(session, match, status, policy, cause)


def match_data(match: Match) -> MatchData:
    return MatchData(
        match_id=match.id,
        need_id=match.need_id,
        offer_id=match.offer_id,
        need_organisation_id=match.need_organisation_id,
        offer_organisation_id=match.offer_organisation_id,
        category=match.category,
        quantity=match.quantity,
        unit=match.unit,
        offer_quantity=match.offer_quantity,
        offer_unit=match.offer_unit,
        score=match.score,
        status=match.status,
        accepted_by=list(match.accepted_by),
        fulfilled_quantity=match.fulfilled_quantity,
        proposed_at=match.proposed_at,
        expires_at=match.expires_at,
        reason=match.reason,
        explanation=match.explanation,
        version=match.version,
    )


def emit_match(session: Session, match: Match, verb: str, policy: MatchPolicy, cause: Cause) -> None:
    """Publish the match's current state as ``sifang.match.<verb>`` through the outbox, as its
    next version."""
    match.version += 1
    session.flush()
    subject, event = CATALOGUE[f"sifang.match.{verb}.v1"].build(
        kind="coordinator",
        organisation_id=policy.coordinator_id,
        region=match.region,
        data=match_data(match),
        correlation_id=cause.correlation_id,
        causation_id=cause.event_id,
        event_id=derived_event_id(cause.time, cause.event_id, match.id, verb),
        time=cause.time,
    )
    emit(session, subject, event)


def expire_due(session: Session, policy: MatchPolicy, cause: Cause) -> int:
    """Expire proposals nobody answered by ``cause.time``, return their quantities to the pool."""
    due = list(
        session.scalars(
            select(Match).where(Match.status == "proposed", Match.expires_at <= cause.time).order_by(Match.id)
        )
    )
    if not due:
        return 0
    for match in due:
        change_status(session, match, "expired", "no answer within the response time", policy, cause)
    for partition in sorted({m.partition for m in due}):
        resolve(session, partition, policy, cause)
    return len(due)
