"""Checks an incoming message against the contract before anything acts on it."""

from dataclasses import dataclass

from pydantic import ValidationError

from shared.events.catalogue import EventType, event_type_for
from shared.events.data import EventData
from shared.events.envelope import CloudEvent, InvalidEvent
from shared.events.subjects import Subject
from shared.text_guard import first_unstorable

__all__ = ["CheckedEvent", "check_event"]


@dataclass(frozen=True)
class CheckedEvent:
    envelope: CloudEvent
    event_type: EventType
    data: EventData
    subject: Subject


def check_event(subject: str, payload: bytes) -> CheckedEvent:
    """Parse and check one message; raises :class:`InvalidEvent` saying what is wrong.

    Besides the envelope and the data model of its type, the event must agree with its
    subject (kind, region, entity, verb), come from a kind allowed to publish it, and be
    published by the organisation its data names.
    """
    envelope = CloudEvent.from_json(payload)
    try:
        return _check(subject, envelope)
    except InvalidEvent as exc:
        raise InvalidEvent(str(exc), event_id=envelope.id) from exc


def _check(subject: str, envelope: CloudEvent) -> CheckedEvent:
    event_type = event_type_for(envelope)
    unstorable = first_unstorable(envelope.data)
    if unstorable is not None:
        raise InvalidEvent(f"{envelope.type}: data.{unstorable[0]}: {unstorable[1]}")
    try:
        data = event_type.data_model.model_validate(envelope.data)
    except ValidationError as exc:
        problems = "; ".join(
            f"data.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidEvent(f"{envelope.type}: {problems}") from exc
    try:
        parsed = Subject.parse(subject)
    except ValueError as exc:
        raise InvalidEvent(str(exc)) from exc
    if parsed.kind != envelope.source_kind:
        raise InvalidEvent(
            f"source kind {envelope.source_kind!r} disagrees with subject kind {parsed.kind!r}"
        )
    if (parsed.entity, parsed.verb) != (event_type.entity, event_type.verb):
        raise InvalidEvent(f"subject {subject!r} does not carry {envelope.type}")
    if parsed.region != envelope.region:
        raise InvalidEvent(f"region {envelope.region!r} disagrees with subject {subject!r}")
    if envelope.source_kind not in event_type.publishers:
        raise InvalidEvent(f"a {envelope.source_kind} service may not publish {envelope.type}")
    if envelope.subject != str(getattr(data, event_type.id_field)):
        raise InvalidEvent(f"event subject {envelope.subject!r} is not the entity in its data")
    if getattr(data, "organisation_id", envelope.source_org) != envelope.source_org:
        raise InvalidEvent(
            f"organisation {envelope.source_org!r} published an event about another organisation"
        )
    return CheckedEvent(envelope, event_type, data, parsed)
