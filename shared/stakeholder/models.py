"""Tables of the stakeholder core: organisations and their needs and offers."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base, utcnow
from shared.messaging.models import MESSAGING_TABLES
from shared.web.accounts import LoginAttemptColumns
from shared.web.sessions import SessionColumns

__all__ = [
    "STAKEHOLDER_TABLES",
    "CoordinatorNotice",
    "EvidenceFile",
    "Listing",
    "MarketSignalCopy",
    "MatchAnswer",
    "MatchCopy",
    "Need",
    "Offer",
    "Organisation",
    "OwnedEntity",
    "PortalAccount",
    "PortalLoginAttempt",
    "PortalSession",
]


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    region: Mapped[str] = mapped_column(String(12))
    contact_person: Mapped[str] = mapped_column(String(100))
    contact_phone: Mapped[str] = mapped_column(String(40))
    contact_email: Mapped[str] = mapped_column(String(200))
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Listing(Base):
    """What needs and offers have in common."""

    __abstract__ = True

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    category: Mapped[str] = mapped_column(String(100), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    unit: Mapped[str] = mapped_column(String(40))
    region: Mapped[str] = mapped_column(String(12))
    window_start: Mapped[date | None]
    window_end: Mapped[date | None]
    attributes: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default="open")
    withdrawn_reason: Mapped[str | None] = mapped_column(Text, default=None)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Need(Listing):
    __tablename__ = "needs"


class Offer(Listing):
    __tablename__ = "offers"

    service_area: Mapped[list[str]]


class OwnedEntity(Base):
    """A service's own kind of record (programme, course, lot...), owned by one organisation."""

    __abstract__ = True

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MatchCopy(Base):
    """A match concerning one of this service's organisations, as the coordinator last stated it."""

    __tablename__ = "match_copies"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    need_organisation_id: Mapped[str] = mapped_column(String(36), index=True)
    offer_organisation_id: Mapped[str] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(20))
    state: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
    # the county the coordinator made it in: answers go to its subjects (None: copied before)
    region: Mapped[str | None] = mapped_column(String(6), default=None)


class MatchAnswer(Base):
    """What one of this service's organisations answered to a proposal."""

    __tablename__ = "match_answers"

    match_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    answer: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the version of the proposal answered (None: recorded before answers named one)
    version: Mapped[int | None] = mapped_column(default=None)


class CoordinatorNotice(Base):
    """The latest state of a meeting or an action item, as the coordinator published it, for
    the organisations it concerns (the invited, the parties, the owner)."""

    __tablename__ = "coordinator_notices"

    entity: Mapped[str] = mapped_column(String(20), primary_key=True)  # meeting or action
    entity_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisations: Mapped[list[str]]
    state: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
    # the county of the meeting (of the action's meeting): replies go to its subjects
    region: Mapped[str | None] = mapped_column(String(6), default=None)


class MarketSignalCopy(Base):
    """A change of a county's category family's market state, as the coordinator published it."""

    __tablename__ = "market_signals"

    signal_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    family: Mapped[str] = mapped_column(String(100))
    dimension: Mapped[str] = mapped_column(String(40))
    month: Mapped[str] = mapped_column(String(7))
    state: Mapped[str] = mapped_column(String(10))
    signal: Mapped[dict[str, Any]]  # the event's data, whole
    at: Mapped[datetime]
    # its place on the stream: the coordinator's order, whatever the publishers' clocks said
    sequence: Mapped[int] = mapped_column(BigInteger, index=True)


class PortalAccount(Base):
    """A person who signs in to the portal for an organisation (its API key stays for systems).
    An organisation's ``admin`` accounts add and deactivate its other accounts."""

    __tablename__ = "portal_accounts"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(10))  # admin | member
    active: Mapped[bool]
    created_by: Mapped[str] = mapped_column(String(64))  # an admin's username, or "operator"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PortalSession(SessionColumns, Base):
    """A portal session (shared/web/sessions.py): the cookie holds a random id, this its SHA-256."""

    __tablename__ = "portal_sessions"


class PortalLoginAttempt(LoginAttemptColumns, Base):
    """One sign-in attempt at the portal, kept for throttling (per account and per address)."""

    __tablename__ = "portal_login_attempts"


class EvidenceFile(Base):
    """A photo or document an organisation uploaded as evidence (of progress, of a delivery),
    kept once per content: its SHA-256 names it."""

    __tablename__ = "evidence_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(60))
    filename: Mapped[str] = mapped_column(String(200))
    size: Mapped[int]
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


STAKEHOLDER_TABLES = (
    *MESSAGING_TABLES,
    Organisation.__table__,
    Need.__table__,
    Offer.__table__,
    MatchCopy.__table__,
    MatchAnswer.__table__,
    CoordinatorNotice.__table__,
    MarketSignalCopy.__table__,
    PortalAccount.__table__,
    PortalSession.__table__,
    PortalLoginAttempt.__table__,
    EvidenceFile.__table__,
)
