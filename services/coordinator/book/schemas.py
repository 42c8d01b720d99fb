"""Response schemas of the book: the coordinator's copy of needs and offers."""

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.events.data import PlainDecimal

__all__ = ["BookNeedRead", "BookOfferRead"]


class BookNeedRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    organisation_id: str
    kind: str
    category: str
    title: str
    description: str
    quantity: PlainDecimal
    unit: str
    region: str
    window_start: date | None
    window_end: date | None
    attributes: dict[str, Any]
    status: str
    withdrawn_reason: str | None
    version: int
    published_at: datetime
    updated_at: datetime


class BookOfferRead(BookNeedRead):
    service_area: list[str]
