"""Keeping the market figures: each listing event moves its contribution (a count and a
quantity) out of the cell it was in and into the cell it is in now, in the same transaction,
and a cell whose state changes publishes ``market.signal`` under that event's cause — so the
figures are a function of the stream and a replay reproduces them. What depends on matches and
prices is read from the book when asked for (:func:`cell_details`)."""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from services.coordinator.book.models import BookListing, BookNeed, BookOffer
from services.coordinator.book.queries import code_starts_with, in_category
from services.coordinator.journal.service import Cause, publish
from services.coordinator.market.models import MarketCell
from services.coordinator.market.rules import (
    CellFigures,
    ListingFigure,
    Signal,
    SignalRule,
    balance_of,
    baseline_of,
    cell_figures,
    family_of,
    month_of,
    month_range,
    signal_for,
)
from services.coordinator.matches.lifecycle import MatchStatus
from services.coordinator.matches.models import Match
from shared.db import kept, transaction_set
from shared.events.data import MarketSignal
from shared.events.envelope import derived_event_id
from shared.requirements import qualities_of, requirements_of
from shared.units import base_factor

__all__ = [
    "BASE_UNITS",
    "CellKey",
    "Contribution",
    "cell_details",
    "cell_key",
    "contribution_of",
    "follow_listing",
    "key_of",
    "read_ahead_cells",
]

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
CellKey = tuple[str, str, str, str]  # county, family, dimension, month
_PLACES = 6  # sums are rounded to this many decimals after each change, so they never drift


@dataclass(frozen=True)
class Contribution:
    """What one listing adds to its cell: one need or offer and its quantity in base units."""

    key: CellKey
    side: Literal["need", "offer"]
    quantity: float


def contribution_of(listing: BookListing | None) -> Contribution | None:
    """What ``listing`` adds to the market now: nothing once withdrawn, nor in a dimension the
    market does not compare (a compound unit such as 元/人), nor at a time no month holds."""
    if listing is None or listing.status == "withdrawn":
        return None
    key = cell_key(listing.region, listing.category, listing.unit, listing.published_at)
    if key is None:
        return None
    side: Literal["need", "offer"] = "need" if isinstance(listing, BookNeed) else "offer"
    return Contribution(key, side, round(float(listing.quantity) * base_factor(listing.unit)[0], _PLACES))


def cell_key(region: str, category: str, unit: str, published_at: datetime) -> CellKey | None:
    """The cell a listing of this region, category and unit published then falls in, if any."""
    dimension = base_factor(unit)[1]
    month = month_of(published_at)
    if dimension not in BASE_UNITS or month is None:
        return None
    return region[:6], family_of(category), dimension, month


# session.info: (transaction, the cells read ahead and found missing in it)
_ABSENT = "sifang.absent_cells"


def read_ahead_cells(session: Session, keys: Iterable[CellKey]) -> None:
    """Read the cells a batch of listing events will move, in one query, ahead of the events:
    those there are held by the session, those not remembered as missing (until added), so
    following each listing asks the database for neither."""
    wanted = set(keys)
    if not wanted:
        return
    columns = tuple_(MarketCell.county, MarketCell.family, MarketCell.dimension, MarketCell.month)
    found = {
        key_of(kept(session, cell)) for cell in session.scalars(select(MarketCell).where(columns.in_(wanted)))
    }
    transaction_set(session, _ABSENT).update(wanted - found)


def follow_listing(
    session: Session, before: Contribution | None, after: Contribution | None, cause: Cause, rule: SignalRule
) -> None:
    """Move a listing's contribution from ``before`` to ``after`` and judge the cells it touched."""
    if before == after:
        return  # a change that moves nothing (a title, a window)
    touched: dict[CellKey, MarketCell] = {}
    for contribution, sign in ((before, -1), (after, 1)):
        if contribution is None:
            continue
        cell = touched.get(contribution.key) or _cell(session, contribution.key, cause.time, rule)
        touched[contribution.key] = cell
        # never below nothing (a cell built before a listing it loses, a sum rounded at 1e17 kg)
        if contribution.side == "need":
            cell.needs = max(0, cell.needs + sign)
            cell.demand = (
                max(0.0, round(cell.demand + sign * contribution.quantity, _PLACES)) if cell.needs else 0.0
            )
        else:
            cell.offers = max(0, cell.offers + sign)
            cell.supply = (
                max(0.0, round(cell.supply + sign * contribution.quantity, _PLACES)) if cell.offers else 0.0
            )
    for key in sorted(touched):
        _judge(session, touched[key], cause, rule)


def _cell(session: Session, key: CellKey, at: datetime, rule: SignalRule) -> MarketCell:
    missing = transaction_set(session, _ABSENT)
    cell = None if key in missing else kept(session, session.get(MarketCell, key))
    if cell is None:
        county, family, dimension, month = key
        cell = MarketCell(
            county=county,
            family=family,
            dimension=dimension,
            month=month,
            base_unit=BASE_UNITS[dimension],
            needs=0,
            offers=0,
            demand=0.0,
            supply=0.0,
            balance=None,
            baseline=round(baseline_of(_history(session, key, rule), rule), 4),
            state="balanced",
            reason={},
            updated_at=at,
        )
        session.add(kept(session, cell))  # held: a batch's listings fall in few cells
        missing.discard(key)
    return cell


def _history(session: Session, key: CellKey, rule: SignalRule) -> list[float]:
    """The balances of the family's earlier months in the county, oldest first."""
    county, family, dimension, month = key
    balances = session.scalars(
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
    return [balance for balance in reversed(balances) if balance is not None]


def _judge(session: Session, cell: MarketCell, cause: Cause, rule: SignalRule) -> None:
    signal = signal_for(cell.needs, cell.offers, cell.demand, cell.supply, cell.baseline, rule)
    balance = balance_of(cell.demand, cell.supply)
    previous = cell.state
    cell.balance = None if balance is None else round(balance, 4)
    cell.state, cell.updated_at = signal.state, cause.time
    cell.reason = reason_of(signal, cell.balance, cell.baseline, cell.needs + cell.offers)
    if signal.state == previous:
        return
    # the share of the cell's demand matched is all of the book the event needs: its needs,
    # not the offers (a cell of a busy month holds hundreds of each)
    matched_share = cell_figures(_need_figures(session, cell)).matched_share
    data = MarketSignal(
        signal_id=derived_event_id(cause.time, cause.event_id, "market", *key_of(cell)),
        county=cell.county,
        family=cell.family,
        dimension=cell.dimension,
        base_unit=cell.base_unit,
        month=cell.month,
        state=signal.state,
        previous_state=previous,
        reason=cell.reason,
        needs=cell.needs,
        offers=cell.offers,
        demand=cell.demand,
        supply=cell.supply,
        matched_share=_rounded(matched_share),
        balance=cell.balance,
        baseline=cell.baseline,
        at=cause.time,
    )
    session.flush()
    publish(session, _SIGNAL, data, cell.county, cause=cause)


def reason_of(signal: Signal, balance: float | None, baseline: float, listings: int) -> dict[str, Any]:
    """Why a cell is in its state, as a code and parameters (``shared.reasons`` renders them)."""
    return {
        "code": signal.reason,
        "params": {
            "balance": _signed(balance),
            "baseline": _signed(baseline),
            "shift": f"{abs(signal.shift):.2f}",
            "listings": listings,
        },
    }


def key_of(cell: MarketCell) -> CellKey:
    return cell.county, cell.family, cell.dimension, cell.month


def cell_details(session: Session, cells: Sequence[MarketCell]) -> dict[CellKey, CellFigures]:
    """The figures of each cell read from the book: with the matched quantity and share, the
    median days to a confirmed match and the median prices (``rules.cell_figures``)."""
    return {key_of(cell): _details(session, cell) for cell in cells}


def _listings(session: Session, model: type[BookListing], cell: MarketCell) -> list[BookListing]:
    start, end = month_range(cell.month)
    rows = session.scalars(
        select(model).where(
            code_starts_with(model.region, cell.county),
            in_category(model.category, cell.family),
            model.published_at >= start,
            model.published_at < end,
            model.status != "withdrawn",
        )
    ).all()
    return [
        row
        for row in rows
        if family_of(row.category) == cell.family and base_factor(row.unit)[1] == cell.dimension
    ]


def _details(session: Session, cell: MarketCell) -> CellFigures:
    return cell_figures([*_need_figures(session, cell), *_offer_figures(session, cell)])


def _need_figures(session: Session, cell: MarketCell) -> list[ListingFigure]:
    needs = _listings(session, BookNeed, cell)
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
    figures: list[ListingFigure] = []
    for need in needs:
        factor = base_factor(need.unit)[0]
        ceiling = requirements_of(need.attributes).price_max
        figures.append(
            ListingFigure(
                "need",
                float(need.quantity) * factor,
                need.published_at,
                matched=matched[need.id],
                first_matched_at=first_matched.get(need.id),
                price=float(ceiling) / factor if ceiling is not None else None,
            )
        )
    return figures


def _offer_figures(session: Session, cell: MarketCell) -> list[ListingFigure]:
    figures: list[ListingFigure] = []
    for offer in _listings(session, BookOffer, cell):
        factor = base_factor(offer.unit)[0]
        price = qualities_of(offer.attributes).price_per_unit
        figures.append(
            ListingFigure(
                "offer",
                float(offer.quantity) * factor,
                offer.published_at,
                price=float(price) / factor if price is not None else None,
            )
        )
    return figures


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}"
