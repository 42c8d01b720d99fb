"""Managing webhook subscriptions: subscribe, stop, enable, replay.

Each handler takes its command (with who asks: a subscription belongs to the token that
created it) and a unit of work, and commits it. Subscriptions are local configuration of this
coordinator, not state rebuilt from the event stream: they are neither published nor replayed,
so they change in a plain transaction instead of through an instruction. Waking the sender
afterwards is the caller's business (it lives with the running app).

A URL is checked against the operator's destination policy (``destinations``) when a
subscription is created or enabled; the sender checks it again before every delivery.
"""

from services.coordinator.integrations.destinations import DestinationPolicy, Refused, check_url
from services.coordinator.integrations.feed import head
from services.coordinator.integrations.models import WebhookSubscription
from services.coordinator.integrations.queries import visible_subscription
from services.coordinator.integrations.schemas import (
    EnableSubscription,
    ReplayAccepted,
    ReplayDeliveries,
    StopSubscription,
    Subscribe,
    SubscriptionCreated,
    SubscriptionRead,
)
from services.coordinator.integrations.webhooks import disable, new_secret, replay_since
from shared.db import UnitOfWork, utcnow
from shared.errors import Conflict, InvalidInput
from shared.events.envelope import new_event_id

__all__ = ["check_destination", "enable", "replay", "stop", "subscribe"]


def check_destination(url: str, policy: DestinationPolicy) -> None:
    """InvalidInput naming ``url`` if webhooks may not go there."""
    try:
        check_url(url, policy)
    except Refused as exc:
        raise InvalidInput(f"url: {exc}", field="url") from None
    except OSError as exc:
        raise InvalidInput(f"url: the host does not resolve: {exc}", field="url") from None


def subscribe(command: Subscribe, uow: UnitOfWork, *, destinations: DestinationPolicy) -> SubscriptionCreated:
    """A new subscription, fed the events from now on; its signing secret is returned once."""
    body = command.subscription
    check_destination(str(body.url), destinations)
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
        owner_token_id=command.caller.token_id,
    )
    uow.session.add(subscription)
    uow.commit()
    return SubscriptionCreated.model_validate(subscription)


def stop(command: StopSubscription, uow: UnitOfWork) -> SubscriptionRead:
    """Stop the subscription (if it runs) and cancel its pending deliveries; its log is kept."""
    subscription = visible_subscription(uow.session, command.subscription_id, command.caller)
    if subscription.active:
        disable(uow.session, subscription, "deleted (DELETE /webhooks/{id})")
    uow.commit()
    return SubscriptionRead.model_validate(subscription)


def enable(
    command: EnableSubscription, uow: UnitOfWork, *, destinations: DestinationPolicy
) -> SubscriptionRead:
    """Start a stopped subscription again, with the events from now on (its URL checked again)."""
    subscription = visible_subscription(uow.session, command.subscription_id, command.caller)
    if not subscription.active:
        check_destination(subscription.url, destinations)
        subscription.active = True
        subscription.enqueued_through = head(uow.session)
        subscription.failing_since = None
        subscription.disabled_at = None
        subscription.disabled_reason = ""
    uow.commit()
    return SubscriptionRead.model_validate(subscription)


def replay(command: ReplayDeliveries, uow: UnitOfWork) -> ReplayAccepted:
    """Enqueue again every logged event since ``command.since`` the subscription's filters pass;
    Conflict if it is stopped."""
    subscription = visible_subscription(uow.session, command.subscription_id, command.caller)
    if not subscription.active:
        raise Conflict(
            f"webhook subscription {command.subscription_id!r} is stopped: enable it first",
            field="subscription_id",
        )
    count = replay_since(uow.session, subscription, command.since)
    uow.commit()
    return ReplayAccepted(
        subscription_id=command.subscription_id,
        since=command.since,
        enqueued=count,
        replay_id=new_event_id(),
    )
