"""The commands on webhook subscriptions and what is read back.

``SubscriptionCreate`` and ``Replay`` are the bodies integrators send; the commands carry them
with who asks (:class:`Principal`), since a subscription belongs to the token that created it.
"""

from datetime import datetime
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from services.coordinator.access.scopes import Principal
from shared.events.data import StakeholderKind

__all__ = [
    "DeliveryRead",
    "EnableSubscription",
    "Replay",
    "ReplayAccepted",
    "ReplayDeliveries",
    "StopSubscription",
    "Subscribe",
    "SubscriptionCreate",
    "SubscriptionCreated",
    "SubscriptionRead",
]


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(
        description="https (plain http only where the operator allows it); must not be, or resolve "
        "to, a loopback, private, link-local or other non-public address unless the operator "
        "allows it (see docs/security.md)"
    )
    description: Annotated[str, Field(max_length=200)] = ""
    types: list[str] = Field(default_factory=list, description="event types; empty: all")
    kinds: list[StakeholderKind | str] = Field(
        default_factory=list, description="publishing kinds; empty: all"
    )
    regions: list[str] = Field(default_factory=list, description="region codes; empty: all")
    organisations: list[str] = Field(default_factory=list, description="organisations concerned; empty: all")


class Replay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: datetime


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True)

    caller: Principal  # who asks: only the token that created a subscription (or the admin) sees it


class Subscribe(_Command):
    """Subscribe a URL, with the events from now on."""

    subscription: SubscriptionCreate


class StopSubscription(_Command):
    """Stop a subscription and cancel its pending deliveries (its log is kept)."""

    subscription_id: str


class EnableSubscription(_Command):
    """Start a stopped subscription again, with the events from now on."""

    subscription_id: str


class ReplayDeliveries(_Command):
    """Deliver again every matching accepted event since a point in time."""

    subscription_id: str
    since: datetime


class SubscriptionRead(BaseModel):
    """A subscription, and why it stopped if it did (never its secret)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    url: str
    description: str
    types: list[str]
    kinds: list[str]
    regions: list[str]
    organisations: list[str]
    active: bool
    created_at: datetime
    enqueued_through: int
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str


class SubscriptionCreated(SubscriptionRead):
    """A subscription just made, with its signing secret: shown this once."""

    secret: str


class DeliveryRead(BaseModel):
    """One event to one endpoint: its attempts, the last answer, whether it got through."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: str
    event_type: str
    position: int | None
    stream_sequence: int | None
    replay: bool
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str
    delivered_at: datetime | None
    created_at: datetime


class ReplayAccepted(BaseModel):
    """How many deliveries a replay enqueued."""

    subscription_id: str
    since: datetime
    enqueued: int
    replay_id: str
