"""Keeping the market figures: a listing's change marks its cell stale; the next clock tick
figures every stale cell again from the book and its matches, and publishes a
``market.signal`` when a cell's state changes (``rules.py`` says how)."""

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.coordinator.book.models import BookListing, BookNeed, BookOffer
from services.coordinator.book.queries import code_starts_with, in_category
from services.coordinator.journal.service import Cause, publish
from services.coordinator.market.models import MarketCell, StaleMarketCell
from services.coordinator.market.rules import (
    ListingFigure,
    SignalRule,
    cell_figures,
    family_of,
    month_of,
    month_range,
    signal_for,
)
from services.coordinator.matches.lifecycle import MatchStatus
from services.coordinator.matches.models import Match
from shared.events.data import MarketSignal
from shared.events.envelope import derived_event_id
from shared.requirements import qualities_of, requirements_of
from shared.units import base_factor

__all__ = ["BASE_UNITS", "mark_stale", "refigure_stale"]

_SIGNAL = "sifang.market.signal.v1"
BASE_UNITS = {
    "[mass]": "kg",
    "[person]": "人",
    "[currency]": "元",
    "[time]": "s",
    "[piece]": "件",
    "[length]": "m",
}
_MATCHED = (MatchStatus.CONFIRMED, MatchStatus.FULFILLED)


def mark_stale(session: Session, listing: BookListing, at: datetime) -> None:
    """The cell of ``listing`` (as it is now) is to be figured again at the next tick."""
    key = (listing.region[:6], family_of(listing.category), month_of(listing.published_at))
    if session.get(StaleMarketCell, key) is None:
        session.add(StaleMarketCell(county=key[0], family=key[1], month=key[2], since=at))
        session.flush()  # a second mark in this transaction finds it


def refigure_stale(session: Session, cause: Cause, rule: SignalRule) -> int:
    """Figure every stale cell again (oldest month first, so a month's history is current
    before the next is judged); returns how many were figured."""
    stale = session.scalars(
        select(StaleMarketCell).order_by(
            StaleMarketCell.month, StaleMarketCell.county, StaleMarketCell.family
        )
    ).all()
    for cell in stale:
        _refigure(session, cell.county, cell.family, cell.month, cause, rule)
        session.delete(cell)
    return len(stale)


def _listings(
    session: Session, model: type[BookListing], county: str, family: str, month: str
) -> list[BookListing]:
    start, end = month_range(month)
    rows = session.scalars(
        select(model).where(
            code_starts_with(model.region, county),
            in_category(model.category, family),
            model.published_at >= start,
            model.published_at < end,
            model.status != "withdrawn",
        )
    ).all()
    return [row for row in rows if family_of(row.category) == family]


def _refigure(session: Session, county: str, family: str, month: str, cause: Cause, rule: SignalRule) -> None:
    needs = _listings(session, BookNeed, county, family, month)
    offers = _listings(session, BookOffer, county, family, month)
    matched: dict[str, float] = defaultdict(float)
    first_matched: dict[str, datetime] = {}
    if needs:
        of_needs = select(Match.need_id, Match.base_quantity, Match.proposed_at).where(
            Match.need_id.in_([n.id for n in needs]), Match.status.in_(_MATCHED)
        )
        for need_id, quantity, proposed_at in session.execute(of_needs):
            matched[need_id] += quantity
            if need_id not in first_matched or proposed_at < first_matched[need_id]:
                first_matched[need_id] = proposed_at
    by_dimension: dict[str, list[ListingFigure]] = defaultdict(list)
    for need in needs:
        factor, dimension = base_factor(need.unit)
        ceiling = requirements_of(need.attributes).price_max
        by_dimension[dimension].append(
            ListingFigure(
                "need",
                float(need.quantity) * factor,
                need.published_at,
                matched=matched[need.id],
                first_matched_at=first_matched.get(need.id),
                price=float(ceiling) / factor if ceiling is not None else None,
            )
        )
    for offer in offers:
        factor, dimension = base_factor(offer.unit)
        price = qualities_of(offer.attributes).price_per_unit
        by_dimension[dimension].append(
            ListingFigure(
                "offer",
                float(offer.quantity) * factor,
                offer.published_at,
                price=float(price) / factor if price is not None else None,
            )
        )
    known = session.scalars(
        select(MarketCell).where(
            MarketCell.county == county, MarketCell.family == family, MarketCell.month == month
        )
    ).all()
    for dimension in sorted({*by_dimension, *(cell.dimension for cell in known)}):
        _store(session, county, family, dimension, month, by_dimension.get(dimension, []), cause, rule)


def _store(
    session: Session,
    county: str,
    family: str,
    dimension: str,
    month: str,
    listings: list[ListingFigure],
    cause: Cause,
    rule: SignalRule,
) -> None:
    figures = cell_figures(listings)
    history = session.scalars(
        select(MarketCell.balance)
        .where(
            MarketCell.county == county,
            MarketCell.family == family,
            MarketCell.dimension == dimension,
            MarketCell.month < month,
            MarketCell.balance.is_not(None),
        )
        .order_by(MarketCell.month.desc())
        .limit(max(rule.history_months, 0))
    ).all()
    signal = signal_for(figures, [b for b in reversed(history) if b is not None], rule)
    cell = session.get(MarketCell, (county, family, dimension, month))
    previous = cell.state if cell is not None else "balanced"
    if cell is None:
        cell = MarketCell(county=county, family=family, dimension=dimension, month=month)
        session.add(cell)
    reason = {
        "code": signal.reason,
        "params": {
            "balance": _shown(figures.balance),
            "baseline": _shown(signal.baseline),
            "shift": f"{abs(signal.shift):.2f}",
            "listings": figures.needs + figures.offers,
        },
    }
    cell.base_unit = BASE_UNITS.get(dimension, dimension)
    cell.needs, cell.offers = figures.needs, figures.offers
    cell.demand, cell.supply, cell.matched = (
        _round(figures.demand),
        _round(figures.supply),
        _round(figures.matched),
    )
    cell.matched_share = _round_or_none(figures.matched_share)
    cell.median_days_to_match = _round_or_none(figures.median_days_to_match)
    cell.median_offer_price = _round_or_none(figures.median_offer_price)
    cell.median_price_ceiling = _round_or_none(figures.median_price_ceiling)
    cell.balance = _round_or_none(figures.balance)
    cell.baseline = _round(signal.baseline)
    cell.state, cell.reason, cell.updated_at = signal.state, reason, cause.time
    if signal.state != previous:
        signal_id = derived_event_id(cause.time, cause.event_id, "market", county, family, dimension, month)
        data = MarketSignal(
            signal_id=signal_id,
            county=county,
            family=family,
            dimension=dimension,
            base_unit=cell.base_unit,
            month=month,
            state=signal.state,
            previous_state=previous,
            reason=reason,
            needs=cell.needs,
            offers=cell.offers,
            demand=cell.demand,
            supply=cell.supply,
            matched_share=cell.matched_share,
            balance=cell.balance,
            baseline=cell.baseline,
            at=cause.time,
        )
        publish(session, _SIGNAL, data, county, cause=cause)


def _round(value: float) -> float:
    return round(value, 4)


def _round_or_none(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _shown(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}"
