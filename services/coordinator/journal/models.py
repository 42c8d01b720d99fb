"""The journal: every event the coordinator applied or emitted, and the events held until
what they build on arrives."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base

__all__ = ["EventLogEntry", "HeldEvent", "PartitionRecord"]


class EventLogEntry(Base):
    """Every event the coordinator accepted or emitted, with its provenance; ``position`` numbers
    them in the order they took effect (what integrators follow)."""

    __tablename__ = "event_log"

    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, unique=True)
    # None for the events the coordinator emits itself: logged when decided, before relaying.
    stream_sequence: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    nats_subject: Mapped[str] = mapped_column(String(300))
    type: Mapped[str] = mapped_column(String(100), index=True)
    source: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    organisation_id: Mapped[str] = mapped_column(String(36), index=True)
    entity_id: Mapped[str] = mapped_column(String(100), index=True)
    region: Mapped[str] = mapped_column(String(6), index=True)
    time: Mapped[datetime]
    correlation_id: Mapped[str] = mapped_column(String(100), index=True)
    causation_id: Mapped[str | None] = mapped_column(String(100))
    data: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]


class HeldEvent(Base):
    """An event that arrived before what it depends on, kept whole until that has been applied.

    ``waits_for`` names the missing piece: ``organisation:<id>`` (its registration) or
    ``<entity>:<id>@<version>`` (the version before this one).
    """

    __tablename__ = "held_events"

    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    waits_for: Mapped[str] = mapped_column(String(200), index=True)
    reason: Mapped[str] = mapped_column(Text)
    stream_sequence: Mapped[int] = mapped_column(BigInteger)
    subject: Mapped[str] = mapped_column(String(300))
    headers: Mapped[dict[str, Any]]
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    held_at: Mapped[datetime]


class PartitionRecord(Base):
    """The part of the stream this database's record is built from (one row): the durable
    consumer that applied it and the counties it owns (empty: all). A coordinator started with
    other counties does not consume into it; ``sifang partition move`` changes it."""

    __tablename__ = "coordinator_partition"

    consumer: Mapped[str] = mapped_column(String(200), primary_key=True)
    regions: Mapped[list[str]]
    # while ``sifang partition move`` works on it: {"county", "source", "target"}; it must not consume
    moving: Mapped[dict[str, Any] | None] = mapped_column(default=None)
