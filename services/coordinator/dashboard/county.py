"""The county view: each township and village of a county with its open needs and offers, its
matches, and how many of those were confirmed or fulfilled against those still proposed; and
one village's page. Every figure is one grouped count in SQL.

Region codes carry no names: a village is named by the community organisation registered at its
code, a township by the part of its villages' names up to 镇, 乡 or 街道 (马召镇西村村民委员会 →
马召镇); without one, by its code."""

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.coordinator.book.models import BookListing, BookNeed, BookOffer
from services.coordinator.matches.lifecycle import MatchStatus
from services.coordinator.matches.models import Match
from services.coordinator.registry.models import RegisteredOrganisation

__all__ = ["Place", "VillagePage", "counties", "county_places", "village_page"]

SETTLED = (MatchStatus.CONFIRMED, MatchStatus.FULFILLED)
TOWNSHIP_NAME = re.compile(r"^(.{1,8}?(镇|乡|街道))")
SHOWN = 50  # rows of each list on a village's page; the full lists are a link away


@dataclass
class Place:
    """A township or a village (or the township or county itself, for what is filed there)."""

    code: str
    name: str
    open_needs: int = 0
    open_offers: int = 0
    proposed: int = 0
    settled: int = 0  # confirmed or fulfilled
    matches: int = 0
    villages: list["Place"] = field(default_factory=list)

    @property
    def fulfilment(self) -> int | None:
        """Settled matches as a percentage of the settled and the proposed."""
        asked = self.settled + self.proposed
        return round(100 * self.settled / asked) if asked else None


def counties(session: Session) -> list[str]:
    """The counties some organisation, need or offer is registered in, by code."""
    found = set(session.scalars(select(func.substr(RegisteredOrganisation.region, 1, 6)).distinct()))
    found |= set(session.scalars(select(func.substr(BookNeed.region, 1, 6)).distinct()))
    return sorted(code for code in found if code and code[4:6] != "00")


def _names(session: Session, county: str) -> dict[str, str]:
    """Each village code under ``county`` → its community's name (the first by name)."""
    org = RegisteredOrganisation
    query = (
        select(org.region, org.name)
        .where(org.region.startswith(county), func.length(org.region) == 12)
        .order_by(org.kind != "community", org.name)
    )
    names: dict[str, str] = {}
    for region, name in session.execute(query):
        names.setdefault(region, name)
    return names


def _counted(session: Session, model: type[BookListing], county: str) -> dict[str, int]:
    query = (
        select(model.region, func.count())
        .where(model.region.startswith(county), model.status == "open")
        .group_by(model.region)
    )
    return {region: count for region, count in session.execute(query)}


def county_places(session: Session, county: str) -> tuple[Place, list[Place]]:
    """The county's own figures (all of it) and its townships, each with its villages."""
    names = _names(session, county)
    needs, offers = _counted(session, BookNeed, county), _counted(session, BookOffer, county)
    matches: dict[str, dict[str, int]] = defaultdict(dict)
    by_status = (
        select(Match.region, Match.status, func.count())
        .where(Match.region.startswith(county))
        .group_by(Match.region, Match.status)
    )
    for region, status, count in session.execute(by_status):
        matches[region][MatchStatus(status).value] = count
    codes = set(names) | set(needs) | set(offers) | set(matches)
    places: dict[str, Place] = {}
    for code in sorted(codes):
        if len(code) not in (9, 12) or not code.startswith(county):
            continue
        place = Place(code, names.get(code, code), needs.get(code, 0), offers.get(code, 0))
        place.proposed = matches[code].get(MatchStatus.PROPOSED.value, 0)
        place.settled = sum(matches[code].get(s.value, 0) for s in SETTLED)
        place.matches = sum(matches[code].values())
        places[code] = place
    townships: dict[str, Place] = {}
    for code, place in places.items():
        township = townships.setdefault(code[:9], Place(code[:9], code[:9]))
        if len(code) == 12:
            township.villages.append(place)
        else:
            township.villages.insert(0, place)  # filed at the township itself
        for figure in ("open_needs", "open_offers", "proposed", "settled", "matches"):
            setattr(township, figure, getattr(township, figure) + getattr(place, figure))
    for township in townships.values():
        found = (TOWNSHIP_NAME.match(v.name) for v in township.villages if v.name != v.code)
        township.name = next((m.group(1) for m in found if m), township.code)
    whole = Place(county, county, sum(needs.values()), sum(offers.values()))
    totals = [count for status in matches.values() for count in status.items()]
    whole.proposed = sum(c for s, c in totals if s == MatchStatus.PROPOSED.value)
    whole.settled = sum(c for s, c in totals if s in {x.value for x in SETTLED})
    whole.matches = sum(c for _, c in totals)
    return whole, [townships[code] for code in sorted(townships)]


@dataclass(frozen=True)
class VillagePage:
    code: str
    name: str
    organisations: list[RegisteredOrganisation]
    needs: list[BookNeed]
    offers: list[BookOffer]
    matches: list[Match]
    titles: dict[str, str]
    counts: dict[str, Any]


def village_page(session: Session, code: str) -> VillagePage:
    """A village's organisations, its open needs and offers and its latest matches (``SHOWN`` of
    each), with how many there are in all."""
    org = RegisteredOrganisation
    organisations = list(session.scalars(select(org).where(org.region == code).order_by(org.kind, org.name)))
    community = next((o.name for o in organisations if o.kind == "community"), None)
    name = community or (organisations[0].name if organisations else code)

    def open_listings(model: type[BookListing]) -> list[Any]:
        query = select(model).where(model.region == code, model.status == "open")
        return list(session.scalars(query.order_by(model.published_at.desc(), model.id).limit(SHOWN)))

    needs, offers = open_listings(BookNeed), open_listings(BookOffer)
    matches = list(
        session.scalars(
            select(Match).where(Match.region == code).order_by(Match.updated_at.desc(), Match.id).limit(SHOWN)
        )
    )
    ids = {m.need_id for m in matches} | {m.offer_id for m in matches}
    titles: dict[str, str] = {}
    for model in (BookNeed, BookOffer):
        query = select(model.id, model.title).where(model.id.in_(ids))
        titles |= {id_: title for id_, title in session.execute(query)}
    count = func.count()
    counts = {
        "needs": session.scalar(select(count).where(BookNeed.region == code, BookNeed.status == "open")),
        "offers": session.scalar(select(count).where(BookOffer.region == code, BookOffer.status == "open")),
        "matches": session.scalar(select(count).where(Match.region == code)),
    }
    return VillagePage(code, name, organisations, needs, offers, matches, titles, counts)
