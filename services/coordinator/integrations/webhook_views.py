"""Webhook subscriptions, their delivery log, and replays."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field
from sqlalchemy import select

from services.coordinator.access.tokens import Principal, RequireScope
from services.coordinator.integrations.destinations import DestinationPolicy, Refused, check_url
from services.coordinator.integrations.feed import head
from services.coordinator.integrations.models import WebhookDelivery, WebhookSubscription
from services.coordinator.integrations.webhooks import WebhookSender, disable, new_secret, replay_since
from shared.app import RuntimeDep, UowDep
from shared.db import UnitOfWork, utcnow
from shared.errors import Conflict, InvalidInput, NotFound
from shared.events.data import StakeholderKind
from shared.events.envelope import new_event_id

__all__ = ["router"]

router = APIRouter(tags=["integration"])
# A subscription belongs to the token that created it: only that token (or the admin) sees it.
Caller = Annotated[Principal, Depends(RequireScope("manage:webhooks"))]


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


def _read(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "url": subscription.url,
        "description": subscription.description,
        "types": subscription.types,
        "kinds": subscription.kinds,
        "regions": subscription.regions,
        "organisations": subscription.organisations,
        "active": subscription.active,
        "created_at": subscription.created_at,
        "enqueued_through": subscription.enqueued_through,
        "failing_since": subscription.failing_since,
        "disabled_at": subscription.disabled_at,
        "disabled_reason": subscription.disabled_reason,
    }


def _wake_sender(request: Request) -> None:
    sender = getattr(request.app.state, "webhook_sender", None)
    if isinstance(sender, WebhookSender):
        sender.wake()


def _check_destination(request: Request, url: str) -> None:
    """422 naming ``url`` if webhooks may not go there (checked again before each delivery)."""
    sender = getattr(request.app.state, "webhook_sender", None)
    policy = sender.destinations if isinstance(sender, WebhookSender) else DestinationPolicy()
    try:
        check_url(url, policy)
    except Refused as exc:
        raise InvalidInput(f"url: {exc}", field="url") from None
    except OSError as exc:
        raise InvalidInput(f"url: the host does not resolve: {exc}", field="url") from None


def _subscription(uow: UnitOfWork, subscription_id: str, who: Principal) -> WebhookSubscription:
    subscription = uow.session.get(WebhookSubscription, subscription_id)
    if subscription is None or not (who.is_admin or subscription.owner_token_id == who.token_id):
        raise NotFound(f"no webhook subscription {subscription_id!r}", field="subscription_id")
    return subscription


@router.post(
    "/webhooks",
    status_code=status.HTTP_201_CREATED,
    summary="Subscribe a URL; the signing secret is shown once",
)
def subscribe(body: SubscriptionCreate, request: Request, uow: UowDep, who: Caller) -> dict[str, Any]:
    _check_destination(request, str(body.url))
    subscription = WebhookSubscription(
        id=new_event_id(),
        url=str(body.url),
        secret=new_secret(),
        description=body.description,
        types=body.types,
        kinds=[str(k) for k in body.kinds],
        regions=body.regions,
        organisations=body.organisations,
        active=True,
        created_at=utcnow(),
        enqueued_through=head(uow.session),  # events from now on
        failing_since=None,
        disabled_at=None,
        disabled_reason="",
        owner_token_id=who.token_id,
    )
    uow.session.add(subscription)
    uow.commit()
    return _read(subscription) | {"secret": subscription.secret}


@router.get("/webhooks", summary="Webhook subscriptions")
def subscriptions(uow: UowDep, who: Caller) -> list[dict[str, Any]]:
    query = select(WebhookSubscription).order_by(WebhookSubscription.created_at)
    if not who.is_admin:
        query = query.where(WebhookSubscription.owner_token_id == who.token_id)
    rows = uow.session.scalars(query)
    return [_read(s) for s in rows]


@router.get("/webhooks/{subscription_id}", summary="One subscription, and why it stopped if it did")
def subscription(subscription_id: str, uow: UowDep, who: Caller) -> dict[str, Any]:
    return _read(_subscription(uow, subscription_id, who))


@router.delete(
    "/webhooks/{subscription_id}",
    summary="Stop a subscription and cancel its pending deliveries (its log is kept)",
)
def unsubscribe(subscription_id: str, request: Request, uow: UowDep, who: Caller) -> dict[str, Any]:
    subscription = _subscription(uow, subscription_id, who)
    if subscription.active:
        disable(uow.session, subscription, "deleted (DELETE /webhooks/{id})")
    uow.commit()
    _wake_sender(request)
    return _read(subscription)


@router.post(
    "/webhooks/{subscription_id}/enable",
    summary="Start a stopped subscription again, with the events from now on",
)
def enable(subscription_id: str, request: Request, uow: UowDep, who: Caller) -> dict[str, Any]:
    subscription = _subscription(uow, subscription_id, who)
    if not subscription.active:
        _check_destination(request, subscription.url)
        subscription.active = True
        subscription.enqueued_through = head(uow.session)
        subscription.failing_since = None
        subscription.disabled_at = None
        subscription.disabled_reason = ""
    uow.commit()
    _wake_sender(request)
    return _read(subscription)


@router.get("/webhooks/{subscription_id}/deliveries", summary="The delivery log, newest first")
def deliveries(
    subscription_id: str,
    uow: UowDep,
    who: Caller,
    status: Annotated[str | None, Query(pattern="^(pending|delivered|dead|cancelled)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    _subscription(uow, subscription_id, who)
    query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    rows = uow.session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit))
    return [
        {
            "id": d.id,
            "event_id": d.event_id,
            "event_type": d.event_type,
            "position": d.position,
            "stream_sequence": d.stream_sequence,
            "replay": d.replay,
            "status": d.status,
            "attempts": d.attempts,
            "next_attempt_at": d.next_attempt_at,
            "last_status_code": d.last_status_code,
            "last_error": d.last_error,
            "delivered_at": d.delivered_at,
            "created_at": d.created_at,
        }
        for d in rows
    ]


@router.post(
    "/webhooks/{subscription_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Deliver again every matching accepted event since a point in time",
)
def replay(
    subscription_id: str, body: Replay, request: Request, runtime: RuntimeDep, who: Caller
) -> dict[str, Any]:
    with runtime.unit_of_work() as uow:
        if not _subscription(uow, subscription_id, who).active:
            raise Conflict(
                f"webhook subscription {subscription_id!r} is stopped: enable it first",
                field="subscription_id",
            )
    count = replay_since(runtime.session_factory, subscription_id, body.since)
    _wake_sender(request)
    return {
        "subscription_id": subscription_id,
        "since": body.since,
        "enqueued": count,
        "replay_id": new_event_id(),
    }
