"""Reads of the matches: proposals, confirmations and fulfilments."""

from dataclasses import replace
from datetime import date
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.coordinator.book.models import BookNeed, BookOffer, OfferElsewhere
from services.coordinator.book.queries import in_category, in_region
from services.coordinator.matches.lifecycle import ACTIVE, REFUSED
from services.coordinator.matches.models import Match
from services.coordinator.matches.schemas import (
    Diagnosis,
    DiagnosisCandidate,
    DiagnosisMessage,
    ExplanationText,
    MatchRead,
)
from services.coordinator.matches.service import (
    base_quantity,
    in_unit,
    match_data,
    need_item,
    offer_categories,
    offer_item,
    parties_of,
)
from services.coordinator.matching import Party
from services.coordinator.matching.diagnosis import Nearest, nearest_needs, nearest_offers
from services.coordinator.matching.filters import Reason
from services.coordinator.registry.models import RegisteredOrganisation
from shared.events.data import OfferData
from shared.reasons import LANGUAGES, Language, render, render_explanation
from shared.taxonomy import CATEGORIES, can_serve, root_of

__all__ = ["diagnosis", "match", "match_read", "matches"]


def matches(
    session: Session,
    *,
    status: str | None = None,
    organisation_id: str | None = None,
    need_id: str | None = None,
    offer_id: str | None = None,
    category: str | None = None,
    region: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[MatchRead]:
    """The matches narrowed by each filter given (``organisation_id``: on either side),
    most recently changed first."""
    query = select(Match)
    if status:
        query = query.where(Match.status == status)
    if organisation_id:
        query = query.where(
            or_(Match.need_organisation_id == organisation_id, Match.offer_organisation_id == organisation_id)
        )
    if need_id:
        query = query.where(Match.need_id == need_id)
    if offer_id:
        query = query.where(Match.offer_id == offer_id)
    if category:
        query = query.where(in_category(Match.category, category))
    if region:
        query = query.where(in_region(Match.region, region))
    query = query.order_by(Match.updated_at.desc(), Match.id).limit(limit).offset(offset)
    return [match_read(m) for m in session.scalars(query)]


def match(session: Session, match_id: str) -> MatchRead | None:
    """One match, or ``None`` if there is none with this id."""
    row = session.get(Match, match_id)
    return None if row is None else match_read(row)


def match_read(row: Match) -> MatchRead:
    """The read model of a match: its event data with its partition and last change."""
    return MatchRead(
        **match_data(row).model_dump(),
        partition=row.partition,
        updated_at=row.updated_at,
        explanation_text={
            lang: ExplanationText(**render_explanation(row.explanation, lang)) for lang in LANGUAGES
        },
    )


DIAGNOSIS_POOL = 5000  # counterparts examined at most, nearest regions first


def _text(reason: Reason, lang: Language) -> DiagnosisMessage:
    return DiagnosisMessage(
        code=reason.code, params=dict(reason.params), text=render(reason.code, reason.params, lang)
    )


def _in_unit(base: float, unit: str) -> str:
    return format(in_unit(base, unit).normalize(), "f")


def _names(session: Session, org_ids: set[str]) -> dict[str, str]:
    rows = session.execute(
        select(RegisteredOrganisation.id, RegisteredOrganisation.name).where(
            RegisteredOrganisation.id.in_(sorted(org_ids))
        )
    )
    return {org_id: name for org_id, name in rows}


def _summary(
    row: BookNeed | BookOffer, side: str, proposed: float, whole: float, near: list[Nearest], today: date
) -> Reason:
    if row.status != "open":
        return Reason("listing_closed", {"status": row.status})
    if row.window_end is not None and row.window_end < today:
        return Reason("listing_window_expired", {"window_end": row.window_end.isoformat()})
    if proposed >= whole - 1e-6:
        return Reason("fully_proposed" if side == "need" else "offer_fully_allocated")
    passing = [n for n in near if n.failed is None]
    if passing:
        return Reason("candidates_taken", {"count": len(passing)})
    if proposed > 0:
        code = "partly_proposed" if side == "need" else "offer_partly_allocated"
        return Reason(
            code,
            {
                "proposed": f"{_in_unit(proposed, row.unit)} {row.unit}",
                "remaining": f"{_in_unit(whole - proposed, row.unit)} {row.unit}",
            },
        )
    return Reason("no_candidates" if side == "need" else "no_needs")


def _elsewhere(
    session: Session,
    need: BookNeed,
    party: Party,
    remaining: float,
    today: date,
    refused: frozenset[tuple[str, str]],
) -> list[tuple[BookOffer, Nearest]]:
    """Other partitions' offers that serve this county (``offer.shared``), judged like ours; one
    that passes every filter fails on where it is allocated (``held_elsewhere``)."""
    rows = list(
        session.scalars(
            select(OfferElsewhere).where(OfferElsewhere.status == "open").order_by(OfferElsewhere.offer_id)
        )
    )
    offers = {r.offer_id: (_transient_offer(r), r) for r in rows}
    items = [
        offer_item(offer, base_quantity(offer) * float(r.remaining / offer.quantity))
        for offer, r in offers.values()
    ]
    found = nearest_offers(need_item(need, party, remaining), items, today=today, refused=refused)
    judged = []
    for near in found:
        offer, row = offers[near.offer.id]
        if near.failed is None:
            params = {
                "county": offer.region[:6],
                "owner": row.owner.removeprefix("coordinator-"),
                "remaining": f"{format(row.remaining.normalize(), 'f')} {offer.unit}",
            }
            near = replace(near, failed=Reason("held_elsewhere", params))
        judged.append((offer, near))
    return judged


def _transient_offer(row: OfferElsewhere) -> BookOffer:
    """The shared offer as a book row, never added to the session."""
    data = OfferData.model_validate(row.offer)
    fields = data.model_dump(exclude={"offer_id", "version", "window_start", "window_end"})
    return BookOffer(
        id=data.offer_id,
        version=data.version,
        window_start=data.window_start,
        window_end=data.window_end,
        status=row.status,
        **fields,
    )


def diagnosis(
    session: Session, side: Literal["need", "offer"], listing_id: str, lang: Language, today: date
) -> Diagnosis | None:
    """Why the need (or offer) ``listing_id`` is not fully matched: the nearest counterparts
    in the book and the first filter each fails, rendered in ``lang``; None if unknown."""
    row: BookNeed | BookOffer | None = (
        session.get(BookNeed, listing_id) if side == "need" else session.get(BookOffer, listing_id)
    )
    if row is None:
        return None
    column = Match.need_id if side == "need" else Match.offer_id
    own_matches = list(session.scalars(select(Match).where(column == listing_id)))
    active = {(m.need_id, m.offer_id): m for m in own_matches if m.status in ACTIVE}
    refused = frozenset((m.need_id, m.offer_id) for m in own_matches if m.status in REFUSED)
    proposed = sum(m.base_quantity for m in active.values())
    whole = base_quantity(row)
    if isinstance(row, BookNeed):
        root = root_of(row.category)
        offers = list(
            session.scalars(
                select(BookOffer)
                .where(BookOffer.status == "open", offer_categories(root))
                .order_by(BookOffer.region.startswith(row.region[:6]).desc(), BookOffer.id)
                .limit(DIAGNOSIS_POOL)
            )
        )
        party = parties_of(session, [row])[row.organisation_id]
        near = nearest_offers(
            need_item(row, party, max(0.0, whole - proposed)),
            [offer_item(o, base_quantity(o)) for o in offers],
            today=today,
            refused=refused,
        )
        counterparts: dict[str, BookNeed | BookOffer] = {o.id: o for o in offers}
        pairs = [(n.offer.id, n) for n in near]
        elsewhere = _elsewhere(session, row, party, max(0.0, whole - proposed), today, refused)
        counterparts |= {offer.id: offer for offer, _ in elsewhere}
        pairs += [(offer.id, found) for offer, found in elsewhere]
    else:
        roots = sorted({root_of(n) for n in CATEGORIES if can_serve(row.category, n)})
        needs = list(
            session.scalars(
                select(BookNeed)
                .where(BookNeed.status == "open", or_(*(in_category(BookNeed.category, r) for r in roots)))
                .order_by(BookNeed.region.startswith(row.region[:6]).desc(), BookNeed.id)
                .limit(DIAGNOSIS_POOL)
            )
        )
        parties = parties_of(session, needs)
        near = nearest_needs(
            offer_item(row, max(0.0, whole - proposed)),
            [need_item(n, parties[n.organisation_id], base_quantity(n)) for n in needs],
            today=today,
            refused=refused,
        )
        counterparts = {n.id: n for n in needs}
        pairs = [(n.need.id, n) for n in near]
    names = _names(session, {counterparts[other].organisation_id for other, _ in pairs})
    candidates = []
    for other_id, found in pairs:
        other = counterparts[other_id]
        match = active.get((found.need.id, found.offer.id))
        candidates.append(
            DiagnosisCandidate(
                listing_id=other.id,
                organisation_id=other.organisation_id,
                organisation_name=names.get(other.organisation_id),
                title=other.title,
                category=other.category,
                region=other.region,
                passed=list(found.passed),
                failed=None if found.failed is None else _text(found.failed, lang),
                proposed_quantity=None if match is None else _in_unit(match.base_quantity, row.unit),
            )
        )
    return Diagnosis(
        listing_id=row.id,
        side=side,
        status=row.status,
        lang=lang,
        unit=row.unit,
        quantity=format(row.quantity.normalize(), "f"),
        proposed=_in_unit(proposed, row.unit),
        remaining=_in_unit(max(0.0, whole - proposed), row.unit),
        summary=_text(_summary(row, side, proposed, whole, near, today), lang),
        candidates=candidates,
    )
