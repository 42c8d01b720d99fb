"""The cross-sector projects the coordinator keeps: one row each, its members, milestones and
budget lines as the JSON lists published in ``project.*`` events."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base

__all__ = ["Project"]


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    region: Mapped[str] = mapped_column(String(12), index=True)
    lead_organisation_id: Mapped[str] = mapped_column(String(36), index=True)
    origin: Mapped[
        dict[str, Any]
    ]  # {"kind": "party"} or {"kind": "decision", "meeting_id", "decision_id", "series_id"}
    series_id: Mapped[str | None] = mapped_column(String(36), index=True)  # the deciding meeting's series
    status: Mapped[str] = mapped_column(String(12), index=True)
    status_reason: Mapped[dict[str, Any]]
    members: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # organisation_id, kind, role, answer, reason
    milestones: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON
    )  # milestone_id, title, due_date, status, progress
    budget_lines: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON
    )  # line, title, amount, fund_id, share, fund_*
    closing: Mapped[dict[str, Any] | None]
    # the earliest due date of its unfinished milestones: the clock's query for overdue ones
    next_due: Mapped[date | None] = mapped_column(index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int]  # how many states of it have been published
