"""Market information, as pure rules: what a county's book says about one category family in
one month, and when that says "shortage" or "glut".

**A cell** is a county (the first six digits of a listing's region), a category family (the
first two levels of its category: ``produce.fruit``, ``training.livestream``), a dimension
(mass, persons, money …: quantities are compared only within one) and a calendar month in
China Standard Time (UTC+8, which has no daylight saving) of the listing's first publication.

**Its figures**, over the listings first published in it and not withdrawn by their publisher:
demand and supply (summed in the dimension's base unit: kg, persons, yuan, seconds), the
number of needs and offers, the quantity of the needs that confirmed or fulfilled matches
cover and its share of the demand, the median days from a need's publication to the proposal
it confirmed first, the median price offered and the median ceiling asked (yuan per base
unit, where stated), and the **balance** (demand − supply) ÷ (demand + supply): +1 only
demand, −1 only supply, 0 even.

**Its signal**, judged whenever one of its listings changes, compares the balance with the
cell's own history — the balances of up to ``history_months`` earlier months with listings,
as they stood when the month's first listing arrived (0, an even market, without any): a
*shortage* when the balance lies ``threshold`` or more above that baseline and demand exceeds
supply, a *glut* when it lies ``threshold`` or more below and supply exceeds demand, otherwise
*balanced*. A cell with fewer than ``min_listings`` listings is *balanced* whatever its
figures (too little to say anything), and says so.
"""

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shared.months import CHINA, month_of, month_range
from shared.taxonomy import family_of

__all__ = [
    "CHINA",
    "CellFigures",
    "ListingFigure",
    "Signal",
    "SignalRule",
    "SignalState",
    "balance_of",
    "baseline_of",
    "cell_figures",
    "family_of",
    "month_of",
    "month_range",
    "signal_for",
]


SignalState = Literal["shortage", "glut", "balanced"]


@dataclass(frozen=True)
class ListingFigure:
    """One listing of a cell, as the figures need it (quantities in base units)."""

    side: Literal["need", "offer"]
    quantity: float
    published_at: datetime
    matched: float = 0.0  # needs: what confirmed or fulfilled matches cover
    first_matched_at: datetime | None = None  # needs: when the first such match was proposed
    price: float | None = None  # offers: price per base unit; needs: the ceiling per base unit


@dataclass(frozen=True)
class CellFigures:
    needs: int
    offers: int
    demand: float
    supply: float
    matched: float
    matched_share: float | None
    median_days_to_match: float | None
    median_offer_price: float | None
    median_price_ceiling: float | None
    balance: float | None


def cell_figures(listings: Iterable[ListingFigure]) -> CellFigures:
    """The figures of one cell from its listings (see the module's description)."""
    needs: list[ListingFigure] = []
    offers: list[ListingFigure] = []
    for figure in listings:
        (needs if figure.side == "need" else offers).append(figure)
    demand = sum(n.quantity for n in needs)
    supply = sum(o.quantity for o in offers)
    matched = sum(min(n.matched, n.quantity) for n in needs)
    waits = [
        (n.first_matched_at - n.published_at).total_seconds() / 86400
        for n in needs
        if n.first_matched_at is not None
    ]
    offered = [o.price for o in offers if o.price is not None]
    ceilings = [n.price for n in needs if n.price is not None]
    return CellFigures(
        needs=len(needs),
        offers=len(offers),
        demand=demand,
        supply=supply,
        matched=matched,
        matched_share=matched / demand if demand > 0 else None,
        median_days_to_match=statistics.median(waits) if waits else None,
        median_offer_price=statistics.median(offered) if offered else None,
        median_price_ceiling=statistics.median(ceilings) if ceilings else None,
        balance=balance_of(demand, supply),
    )


@dataclass(frozen=True)
class SignalRule:
    threshold: float = 0.4
    history_months: int = 6
    min_listings: int = 3


@dataclass(frozen=True)
class Signal:
    state: SignalState
    reason: str  # a code shared.reasons renders: market_shortage, market_glut, …
    baseline: float  # the mean balance of the history (0 without one)
    shift: float  # the balance minus the baseline


def balance_of(demand: float, supply: float) -> float | None:
    """(demand − supply) ÷ (demand + supply); None when there is neither."""
    return (demand - supply) / (demand + supply) if demand + supply > 0 else None


def baseline_of(history: Sequence[float], rule: SignalRule) -> float:
    """The usual balance of a family in a county: the mean of its last ``history_months``
    earlier balances (oldest first), or 0 — an even market — without any."""
    recent = list(history)[-rule.history_months :] if rule.history_months > 0 else []
    return statistics.fmean(recent) if recent else 0.0


def signal_for(
    needs: int, offers: int, demand: float, supply: float, baseline: float, rule: SignalRule
) -> Signal:
    """The cell's signal given its usual balance (:func:`baseline_of`)."""
    balance = balance_of(demand, supply)
    shift = (balance if balance is not None else 0.0) - baseline
    if needs + offers < rule.min_listings:
        return Signal("balanced", "market_too_few_listings", baseline, shift)
    if shift >= rule.threshold - 1e-12 and demand > supply:
        return Signal("shortage", "market_shortage", baseline, shift)
    if shift <= -rule.threshold + 1e-12 and supply > demand:
        return Signal("glut", "market_glut", baseline, shift)
    return Signal("balanced", "market_balanced", baseline, shift)
