"""Integrations: integrators' webhook subscriptions and their deliveries."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base

__all__ = ["WebhookDelivery", "WebhookSubscription"]


class WebhookSubscription(Base):
    """An integrator's endpoint and the events it wants."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(200))
    types: Mapped[list[str]]
    kinds: Mapped[list[str]]
    regions: Mapped[list[str]]
    organisations: Mapped[list[str]]
    active: Mapped[bool]
    created_at: Mapped[datetime]
    # The event-log position up to which deliveries have been enqueued: the cursor that lets
    # enqueuing resume after a restart without losing or repeating an event.
    enqueued_through: Mapped[int] = mapped_column(BigInteger)
    # Since when every attempt has failed (None after a success); too long disables it.
    failing_since: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str] = mapped_column(Text)
    # The API token that created it (None: the admin token); only that token sees it.
    owner_token_id: Mapped[str | None] = mapped_column(String(36), index=True)


class WebhookDelivery(Base):
    """One event to one endpoint: its attempts, the last answer, and whether it got through."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription_due", "subscription_id", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("webhook_subscriptions.id"), index=True)
    event_id: Mapped[str] = mapped_column(String(100))
    event_type: Mapped[str] = mapped_column(String(100))
    position: Mapped[int | None] = mapped_column(BigInteger)  # in the event log; None before 0007
    stream_sequence: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[str] = mapped_column(Text)
    replay: Mapped[bool]
    status: Mapped[str] = mapped_column(String(20))  # pending, delivered, dead, cancelled
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
