"""``/webhooks``: webhook subscriptions, their delivery log, and replays (scope
``manage:webhooks``; a subscription belongs to the token that created it)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from services.coordinator.access.dependencies import RequireScope
from services.coordinator.access.scopes import Principal
from services.coordinator.integrations import queries
from services.coordinator.integrations import subscriptions as handlers
from services.coordinator.integrations.destinations import DestinationPolicy
from services.coordinator.integrations.queries import DeliveryFilter
from services.coordinator.integrations.schemas import (
    DeliveryRead,
    EnableSubscription,
    Replay,
    ReplayAccepted,
    ReplayDeliveries,
    StopSubscription,
    Subscribe,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionRead,
)
from services.coordinator.integrations.webhooks import WebhookSender
from shared.app import UowDep

__all__ = ["router"]

router = APIRouter(tags=["integration"])
Caller = Annotated[Principal, Depends(RequireScope("manage:webhooks"))]


def _sender(request: Request) -> WebhookSender | None:
    sender = getattr(request.app.state, "webhook_sender", None)
    return sender if isinstance(sender, WebhookSender) else None


def _destinations(request: Request) -> DestinationPolicy:
    """The operator's destination policy (the sender's; the strict default without one)."""
    sender = _sender(request)
    return sender.destinations if sender is not None else DestinationPolicy()


def _wake_sender(request: Request) -> None:
    """The subscriptions or their deliveries changed: the sender looks again at once."""
    sender = _sender(request)
    if sender is not None:
        sender.wake()


Destinations = Annotated[DestinationPolicy, Depends(_destinations)]


@router.post(
    "/webhooks",
    status_code=status.HTTP_201_CREATED,
    summary="Subscribe a URL; the signing secret is shown once",
)
def subscribe(
    body: SubscriptionCreate, uow: UowDep, who: Caller, destinations: Destinations
) -> SubscriptionCreated:
    return handlers.subscribe(Subscribe(subscription=body, caller=who), uow, destinations=destinations)


@router.get("/webhooks", summary="Webhook subscriptions")
def subscriptions(uow: UowDep, who: Caller) -> list[SubscriptionRead]:
    return queries.subscriptions(uow.session, who)


@router.get("/webhooks/{subscription_id}", summary="One subscription, and why it stopped if it did")
def subscription(subscription_id: str, uow: UowDep, who: Caller) -> SubscriptionRead:
    return queries.subscription(uow.session, subscription_id, who)


@router.delete(
    "/webhooks/{subscription_id}",
    summary="Stop a subscription and cancel its pending deliveries (its log is kept)",
)
def unsubscribe(subscription_id: str, request: Request, uow: UowDep, who: Caller) -> SubscriptionRead:
    stopped = handlers.stop(StopSubscription(subscription_id=subscription_id, caller=who), uow)
    _wake_sender(request)
    return stopped


@router.post(
    "/webhooks/{subscription_id}/enable",
    summary="Start a stopped subscription again, with the events from now on",
)
def enable(
    subscription_id: str, request: Request, uow: UowDep, who: Caller, destinations: Destinations
) -> SubscriptionRead:
    command = EnableSubscription(subscription_id=subscription_id, caller=who)
    enabled = handlers.enable(command, uow, destinations=destinations)
    _wake_sender(request)
    return enabled


@router.get("/webhooks/{subscription_id}/deliveries", summary="The delivery log, newest first")
def deliveries(
    subscription_id: str,
    uow: UowDep,
    who: Caller,
    status: Annotated[str | None, Query(pattern="^(pending|delivered|dead|cancelled)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryRead]:
    where = DeliveryFilter(subscription_id=subscription_id, status=status)
    return queries.deliveries(uow.session, where, who, limit)


@router.post(
    "/webhooks/{subscription_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Deliver again every matching accepted event since a point in time",
)
def replay(subscription_id: str, body: Replay, request: Request, uow: UowDep, who: Caller) -> ReplayAccepted:
    command = ReplayDeliveries(subscription_id=subscription_id, since=body.since, caller=who)
    accepted = handlers.replay(command, uow)
    _wake_sender(request)
    return accepted
