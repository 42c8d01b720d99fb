"""The CloudEvents 1.0 envelope in structured JSON mode, with Sifang's extensions.

Every event on the stream is one JSON object: the CloudEvents context attributes, the
extensions ``region`` (GB/T 2260 code), ``correlationid`` and ``causationid``, and ``data``.
"""

import hashlib
import uuid
from datetime import datetime
from typing import Any, Literal

import uuid6
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["CONTENT_TYPE", "CloudEvent", "InvalidEvent", "derived_event_id", "new_event_id"]

CONTENT_TYPE = "application/cloudevents+json"


class InvalidEvent(ValueError):
    """An event that cannot be accepted; the message says why (it becomes the dead-letter reason)."""

    def __init__(self, message: str, event_id: str | None = None) -> None:
        super().__init__(message)
        self.event_id = event_id


def new_event_id() -> str:
    """A fresh UUIDv7: unique and ordered by creation time."""
    return str(uuid6.uuid7())


def derived_event_id(at: datetime, *cause: str) -> str:
    """A UUIDv7 that is a function of its cause: the millisecond of ``at`` and a hash of ``cause``.

    Decisions taken while applying an event get ids derived this way, so replaying the
    stream reproduces them exactly.
    """
    digest = int.from_bytes(hashlib.sha256("\x1f".join(cause).encode()).digest()[:10], "big")
    millis = int(at.timestamp() * 1000) & ((1 << 48) - 1)
    rand_a, rand_b = (digest >> 62) & 0xFFF, digest & ((1 << 62) - 1)
    value = (millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


TRACEPARENT = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"  # W3C trace context


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event as Sifang publishes it."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1)
    source: str = Field(pattern=r"^/sifang/[a-z]+/[^/]+$")
    type: str = Field(pattern=r"^sifang\.[a-z_]+\.[a-z_]+\.v[1-9][0-9]*$")
    subject: str = Field(min_length=1)
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str
    region: str = Field(pattern=r"^\d{6}$")
    correlationid: str
    causationid: str | None = None
    # The CloudEvents distributed-tracing extension: the W3C trace context of the span that
    # recorded the event (only with tracing on; shared/tracing.py).
    traceparent: str | None = Field(default=None, pattern=TRACEPARENT)
    tracestate: str | None = Field(default=None, max_length=512)
    data: dict[str, Any]

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time must carry a UTC offset (RFC 3339)")
        return value

    @property
    def source_kind(self) -> str:
        return self.source.split("/")[2]

    @property
    def source_org(self) -> str:
        return self.source.split("/")[3]

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> "CloudEvent":
        """Parse a structured-mode event; raises :class:`InvalidEvent` with the reason."""
        try:
            return cls.model_validate_json(payload)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'event'}: {err['msg']}" for err in exc.errors()
            )
            raise InvalidEvent(f"not a valid CloudEvent: {problems}") from exc
