"""Who may use the coordinator: coordinators' accounts (created by operators; they sign in to
the dashboard and API tokens may act for them) and scoped API tokens."""

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base

__all__ = ["ApiToken", "CoordinatorAccount"]


class CoordinatorAccount(Base):
    """A coordinator who signs in to the dashboard; created by an operator command."""

    __tablename__ = "coordinator_accounts"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool]
    created_at: Mapped[datetime]


class ApiToken(Base):
    """A scoped, expiring credential for the HTTP API, issued by an operator and shown once;
    only the SHA-256 digest of the secret is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]]
    # The coordinator account it acts for (what it records carries their name), if any.
    coordinator: Mapped[str | None] = mapped_column(ForeignKey("coordinator_accounts.username"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
