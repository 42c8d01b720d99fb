"""Joint and negotiation meetings: series, meetings, agendas, invitations, decisions, actions and records."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base

__all__ = [
    "ActionItem",
    "AgendaProposal",
    "AgendaVersion",
    "Decision",
    "Invitation",
    "Meeting",
    "MeetingRecord",
    "MeetingSeries",
]


class MeetingSeries(Base):
    """A standing series of meetings in one region: joint meetings or negotiation meetings."""

    __tablename__ = "meeting_series"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    region: Mapped[str] = mapped_column(String(12), index=True)
    cadence: Mapped[str] = mapped_column(String(200))
    duration_minutes: Mapped[int]
    invited: Mapped[list[str]]
    quorum_kinds: Mapped[list[str]]
    created_at: Mapped[datetime]


class Meeting(Base):
    __tablename__ = "meetings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    series_id: Mapped[str] = mapped_column(ForeignKey("meeting_series.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    duration_minutes: Mapped[int]
    location: Mapped[str] = mapped_column(String(200))
    cutoff_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))  # scheduled, published, closed, locked
    created_at: Mapped[datetime]


class AgendaVersion(Base):
    """One version of a meeting's agenda; every compilation and every edit adds one."""

    __tablename__ = "agenda_versions"

    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    overflow: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    made_by: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text)
    published: Mapped[bool]
    created_at: Mapped[datetime]


class Invitation(Base):
    __tablename__ = "invitations"

    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id"), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reply: Mapped[str] = mapped_column(String(20))  # pending, attend, decline, delegate
    delegate: Mapped[str] = mapped_column(String(200))
    present: Mapped[bool | None]
    representative: Mapped[str] = mapped_column(String(200))


class AgendaProposal(Base):
    """An item an organisation asked to put on the agenda, or a dispute a community raised."""

    __tablename__ = "agenda_proposals"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source: Mapped[str] = mapped_column(String(20))  # proposal or dispute
    organisation_id: Mapped[str] = mapped_column(String(36))
    series_id: Mapped[str | None] = mapped_column(String(36))
    region: Mapped[str] = mapped_column(String(12), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20))  # pending, decided
    raised_at: Mapped[datetime]


class Decision(Base):
    __tablename__ = "decisions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id"), index=True)
    item_key: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(20))
    positions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    minutes: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime]


class ActionItem(Base):
    __tablename__ = "action_items"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id"), index=True)
    decision_id: Mapped[str] = mapped_column(ForeignKey("decisions.id"))
    owner_organisation_id: Mapped[str] = mapped_column(String(36), index=True)
    title: Mapped[str] = mapped_column(String(200))
    due_date: Mapped[date]
    status: Mapped[str] = mapped_column(String(20), index=True)
    links: Mapped[list[str]]
    progress: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    updated_at: Mapped[datetime]
    version: Mapped[int]  # how many states of it have been published


class MeetingRecord(Base):
    """Minutes or an amendment, chained by hash within a series: tamper-evident."""

    __tablename__ = "meeting_records"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    series_id: Mapped[str] = mapped_column(ForeignKey("meeting_series.id"), index=True)
    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id"), index=True)
    sequence: Mapped[int]
    kind: Mapped[str] = mapped_column(String(20))
    content: Mapped[dict[str, Any]]
    previous_hash: Mapped[str] = mapped_column(String(64))
    record_hash: Mapped[str] = mapped_column(String(64), unique=True)
    parties: Mapped[list[str]]
    approved_by: Mapped[list[str]]
    locked_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
