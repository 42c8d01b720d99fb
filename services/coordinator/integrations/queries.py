"""Reads of webhook subscriptions and their delivery log, as the caller may see them: a
subscription belongs to the token that created it, and only that token (or the admin) sees it."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.coordinator.access.scopes import Principal
from services.coordinator.integrations.models import WebhookDelivery, WebhookSubscription
from services.coordinator.integrations.schemas import DeliveryRead, SubscriptionRead
from shared.errors import NotFound

__all__ = ["DeliveryFilter", "deliveries", "subscription", "subscriptions", "visible_subscription"]


@dataclass(frozen=True)
class DeliveryFilter:
    """Which deliveries of a subscription to read; ``status`` None: every one."""

    subscription_id: str
    status: str | None = None


def visible_subscription(session: Session, subscription_id: str, caller: Principal) -> WebhookSubscription:
    """The subscription, if ``caller`` may see it; NotFound otherwise (as if it did not exist)."""
    found = session.get(WebhookSubscription, subscription_id)
    if found is None or not (caller.is_admin or found.owner_token_id == caller.token_id):
        raise NotFound(f"no webhook subscription {subscription_id!r}", field="subscription_id")
    return found


def subscriptions(session: Session, caller: Principal) -> list[SubscriptionRead]:
    """The subscriptions ``caller`` may see, oldest first."""
    query = select(WebhookSubscription).order_by(WebhookSubscription.created_at)
    if not caller.is_admin:
        query = query.where(WebhookSubscription.owner_token_id == caller.token_id)
    return [SubscriptionRead.model_validate(row) for row in session.scalars(query)]


def subscription(session: Session, subscription_id: str, caller: Principal) -> SubscriptionRead:
    return SubscriptionRead.model_validate(visible_subscription(session, subscription_id, caller))


def deliveries(
    session: Session, where: DeliveryFilter, caller: Principal, limit: int = 100
) -> list[DeliveryRead]:
    """The delivery log of a subscription ``caller`` may see, newest first."""
    visible_subscription(session, where.subscription_id, caller)
    query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == where.subscription_id)
    if where.status:
        query = query.where(WebhookDelivery.status == where.status)
    rows = session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit))
    return [DeliveryRead.model_validate(row) for row in rows]
