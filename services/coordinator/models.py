"""The coordinator's tables: what it has learnt from the stakeholder services' events."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, LargeBinary, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base
from shared.messaging.models import MESSAGING_TABLES

__all__ = [
    "TABLES",
    "ApiToken",
    "BookListing",
    "BookNeed",
    "BookOffer",
    "EventLogEntry",
    "HeldEvent",
    "RegisteredOrganisation",
    "WebhookDelivery",
    "WebhookSubscription",
]


class RegisteredOrganisation(Base):
    __tablename__ = "registry_organisations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    region: Mapped[str] = mapped_column(String(12), index=True)
    contact: Mapped[dict[str, Any]]
    registered_at: Mapped[datetime]


class BookListing(Base):
    """A need or offer as the coordinator knows it; a replica of the publisher's record."""

    __abstract__ = True

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    category: Mapped[str] = mapped_column(String(100), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    unit: Mapped[str] = mapped_column(String(40))
    region: Mapped[str] = mapped_column(String(12), index=True)
    window_start: Mapped[date | None]
    window_end: Mapped[date | None]
    attributes: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), index=True)
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int]
    published_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class BookNeed(BookListing):
    __tablename__ = "book_needs"


class BookOffer(BookListing):
    __tablename__ = "book_offers"

    service_area: Mapped[list[str]]


class BookOfferArea(Base):
    """One region an offer serves, by its significant prefix, so coverage is an indexed lookup."""

    __tablename__ = "book_offer_areas"

    offer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(12), primary_key=True, index=True)


class Match(Base):
    """A proposed pairing of (part of) a need with (part of) an offer, and what became of it."""

    __tablename__ = "matches"
    __table_args__ = (Index("ix_matches_partition_status", "partition", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    partition: Mapped[str] = mapped_column(String(120))
    need_id: Mapped[str] = mapped_column(String(36), index=True)
    offer_id: Mapped[str] = mapped_column(String(36), index=True)
    need_organisation_id: Mapped[str] = mapped_column(String(36), index=True)
    offer_organisation_id: Mapped[str] = mapped_column(String(36), index=True)
    category: Mapped[str] = mapped_column(String(100))
    region: Mapped[str] = mapped_column(String(12))
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    unit: Mapped[str] = mapped_column(String(40))
    offer_quantity: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    offer_unit: Mapped[str] = mapped_column(String(40))
    base_quantity: Mapped[float]
    score: Mapped[float]
    status: Mapped[str] = mapped_column(String(20), index=True)
    accepted_by: Mapped[list[str]]
    fulfilled_quantity: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    explanation: Mapped[dict[str, Any]]
    reason: Mapped[str] = mapped_column(Text)
    proposed_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    version: Mapped[int]  # how many states of it have been published (match.* events)

    @property
    def holds_capacity(self) -> bool:
        """Confirmed, fulfilled, or accepted by one side already: not re-solved away."""
        return self.status in ("confirmed", "fulfilled") or (
            self.status == "proposed" and bool(self.accepted_by)
        )


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


class CoordinatorAccount(Base):
    """A coordinator who signs in to the dashboard; created by an operator command."""

    __tablename__ = "coordinator_accounts"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool]
    created_at: Mapped[datetime]


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


TABLES = (
    *MESSAGING_TABLES,
    RegisteredOrganisation.__table__,
    BookNeed.__table__,
    BookOffer.__table__,
    EventLogEntry.__table__,
    HeldEvent.__table__,
    BookOfferArea.__table__,
    Match.__table__,
    MeetingSeries.__table__,
    Meeting.__table__,
    AgendaVersion.__table__,
    Invitation.__table__,
    AgendaProposal.__table__,
    Decision.__table__,
    ActionItem.__table__,
    MeetingRecord.__table__,
    WebhookSubscription.__table__,
    WebhookDelivery.__table__,
    CoordinatorAccount.__table__,
    DashboardSession.__table__,
    LoginAttempt.__table__,
    ApiToken.__table__,
)
