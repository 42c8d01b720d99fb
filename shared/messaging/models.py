"""Tables of the messaging core: outbox, inbox and dead letters. Every service's database has them."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base, utcnow

__all__ = ["MESSAGING_TABLES", "DeadLetter", "InboxEntry", "OutboxMessage"]


class OutboxMessage(Base):
    """An event written in the same transaction as the change it reports, waiting for the relay."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unpublished", "published_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_type: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(default=None)


class InboxEntry(Base):
    """An event a consumer has applied, recorded in the same transaction as its effect."""

    __tablename__ = "inbox"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    stream_sequence: Mapped[int] = mapped_column(BigInteger)
    applied_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeadLetter(Base):
    """A message a consumer could not apply, kept whole with the reason so it can be re-driven."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    consumer: Mapped[str] = mapped_column(String(100), index=True)
    stream_sequence: Mapped[int] = mapped_column(BigInteger)
    subject: Mapped[str] = mapped_column(String(300))
    event_id: Mapped[str | None] = mapped_column(String(100))
    headers: Mapped[dict[str, Any]]
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(Text)
    deliveries: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    redriven_at: Mapped[datetime | None] = mapped_column(default=None)


MESSAGING_TABLES = (OutboxMessage.__table__, InboxEntry.__table__, DeadLetter.__table__)
