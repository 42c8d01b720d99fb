"""Response schemas of the event log and the dead letters."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["DeadLetterRead", "EventRead"]


class EventRead(BaseModel):
    """An event as applied, with its provenance: where it came from and where it sat."""

    model_config = ConfigDict(from_attributes=True)

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


class DeadLetterRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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
