"""The dashboard's sessions and sign-in attempts."""

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base

__all__ = ["DashboardSession", "LoginAttempt"]


class DashboardSession(Base):
    """A signed-in (or anonymous, pre-sign-in) dashboard session. The browser's cookie holds only
    the random session id; the table holds its SHA-256, so a copy of the table signs nobody in."""

    __tablename__ = "dashboard_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    data: Mapped[dict[str, Any]]
    client_address: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]


class LoginAttempt(Base):
    """One sign-in attempt at the dashboard, kept for throttling (per account and per address)."""

    __tablename__ = "dashboard_login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    client_address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(index=True)
    succeeded: Mapped[bool]
