"""Response schemas of the coordinator's read API."""

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.events.data import MatchData, PlainDecimal

__all__ = [
    "BookNeedRead",
    "BookOfferRead",
    "DeadLetterRead",
    "EventRead",
    "MatchRead",
    "OrganisationEntry",
]


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class OrganisationEntry(_Read):
    id: str
    name: str
    kind: str
    region: str
    contact: dict[str, Any]
    registered_at: datetime


class BookNeedRead(_Read):
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


class EventRead(_Read):
    """An event as applied, with its provenance: where it came from and where it sat."""

    stream_sequence: int
    event_id: str
    type: str
    source: str
    kind: str
    organisation_id: str
    entity_id: str
    region: str
    nats_subject: str
    time: datetime
    correlation_id: str
    causation_id: str | None
    received_at: datetime
    data: dict[str, Any]


class DeadLetterRead(_Read):
    id: int
    consumer: str
    stream_sequence: int
    subject: str
    event_id: str | None
    reason: str
    deliveries: int
    created_at: datetime
    payload: str
    redriven_at: datetime | None


class MatchRead(MatchData):
    """A match as the coordinator holds it; ``explanation.summary_en``/``summary_zh`` say why."""

    partition: str
    updated_at: datetime
