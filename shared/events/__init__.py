"""The event contract: CloudEvents envelope, catalogue of event types, NATS subjects."""

from shared.events.catalogue import CATALOGUE, EventType, event_type_for
from shared.events.envelope import CloudEvent, InvalidEvent, new_event_id
from shared.events.subjects import KINDS, Subject, subject_for

__all__ = [
    "CATALOGUE",
    "KINDS",
    "CloudEvent",
    "EventType",
    "InvalidEvent",
    "Subject",
    "event_type_for",
    "new_event_id",
    "subject_for",
]
