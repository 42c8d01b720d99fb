"""The disputes the coordinator mediates, and the hash chain of their outcomes per county."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base

__all__ = ["Dispute", "MediationRecord"]


class Dispute(Base):
    __tablename__ = "disputes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    region: Mapped[str] = mapped_column(String(12), index=True)
    raised_by: Mapped[str] = mapped_column(String(36), index=True)
    parties: Mapped[list[str]]  # the community that raised it first, then the others it named
    mediator: Mapped[str | None] = mapped_column(String(36), index=True)
    mediator_since: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(
        String(20), index=True
    )  # awaiting_mediator, in_mediation, settled, escalated
    raised_at: Mapped[datetime]
    statements: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    settlements: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    reminders: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    escalation: Mapped[dict[str, Any] | None]
    record_id: Mapped[str | None] = mapped_column(String(36))
    # when the clock must look at it next: its step's deadline, or the end of its grace
    next_check: Mapped[datetime | None] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    version: Mapped[int]


class MediationRecord(Base):
    """The outcome of a mediation, in its county's hash chain (``meetings/chain.py``)."""

    __tablename__ = "mediation_records"
    __table_args__ = (UniqueConstraint("county", "sequence"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    sequence: Mapped[int]
    dispute_id: Mapped[str] = mapped_column(String(36), index=True)
    outcome: Mapped[str] = mapped_column(String(12))
    content: Mapped[dict[str, Any]]
    previous_hash: Mapped[str] = mapped_column(String(64))
    record_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
