"""Market signals at a party's own service: the coordinator's ``market.signal`` events are
kept as they arrive, and ``GET /market/signals`` tells an organisation what is short or in
glut in its county — in the category families it lists needs or offers in, or in all of them."""

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.app import UowDep
from shared.db import utcnow
from shared.events.data import MarketSignal
from shared.events.validation import CheckedEvent
from shared.messaging.consumer import Delivery
from shared.months import month_of, month_range
from shared.reasons import language, render_reason
from shared.stakeholder.models import MarketSignalCopy, Need, Offer, Organisation
from shared.stakeholder.views import CurrentOrg
from shared.taxonomy import family_of

__all__ = ["MarketSignalRead", "apply_market_event", "market_router", "signals_for"]


def apply_market_event(session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
    """Keep every market signal (a redelivered one is already here)."""
    data = checked.data
    if not isinstance(data, MarketSignal) or session.get(MarketSignalCopy, data.signal_id) is not None:
        return
    session.add(
        MarketSignalCopy(
            signal_id=data.signal_id,
            county=data.county,
            family=data.family,
            dimension=data.dimension,
            month=data.month,
            state=data.state,
            signal=data.model_dump(mode="json"),
            at=data.at,
            sequence=delivery.stream_sequence,
        )
    )


class MarketSignalRead(BaseModel):
    county: str
    family: str
    dimension: str
    base_unit: str
    month: str
    state: str = Field(description="shortage, glut or balanced (a signal that ended)")
    previous_state: str
    reason: str = Field(description="why, in the language asked for")
    needs: int
    offers: int
    demand: float
    supply: float
    matched_share: float | None
    balance: float | None
    baseline: float
    at: datetime
    yours: bool = Field(description="the family is one your organisation lists needs or offers in")


market_router = APIRouter(tags=["market"])


@market_router.get("/market/signals", response_model=list[MarketSignalRead])
def market_signals(
    uow: UowDep,
    org: CurrentOrg,
    every_category: Annotated[bool, Query(description="all families of your county, not only yours")] = False,
    lang: Annotated[str | None, Query(pattern="^(zh|en)$")] = None,
) -> list[MarketSignalRead]:
    """The latest signal of each category family in your county this month and last (China
    Standard Time), newest first: by default only the families you list needs or offers in."""
    return signals_for(uow.session, org, every_category=every_category, lang=lang)


def signals_for(
    session: Session, org: Organisation, *, every_category: bool, lang: str | None
) -> list[MarketSignalRead]:
    """What :func:`market_signals` answers (the API's and the portal's)."""
    families = {
        family_of(category)
        for model in (Need, Offer)
        for category in session.scalars(
            select(model.category).where(model.organisation_id == org.id, model.status != "withdrawn")
        )
    }
    this_month = month_of(utcnow())
    assert this_month is not None  # today lies in a calendar month
    months = [this_month, month_of(month_range(this_month)[0] - timedelta(days=1))]
    query = select(MarketSignalCopy).where(
        MarketSignalCopy.county == org.region[:6], MarketSignalCopy.month.in_(months)
    )
    if not every_category:
        if not families:
            return []
        query = query.where(MarketSignalCopy.family.in_(sorted(families)))
    latest: dict[tuple[str, str, str], MarketSignalCopy] = {}
    for copy in session.scalars(query.order_by(MarketSignalCopy.sequence)):
        latest[(copy.family, copy.dimension, copy.month)] = copy  # a later one on the stream replaces it
    shown = sorted(latest.values(), key=lambda c: c.sequence, reverse=True)
    lang_ = language(lang)
    return [
        MarketSignalRead(
            **{name: copy.signal[name] for name in _FIELDS},
            reason=render_reason(copy.signal["reason"], lang_),
            yours=copy.family in families,
        )
        for copy in shown
    ]


_FIELDS = tuple(name for name in MarketSignalRead.model_fields if name not in {"reason", "yours"})
