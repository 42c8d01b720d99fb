"""Webhooks: every event a subscription's filters pass is delivered to its URL, signed per the
Standard Webhooks specification (the ``standardwebhooks`` library), retried with backoff and
logged; a subscription can replay what it missed from a point in time.

A durable consumer of the whole stream turns events into pending deliveries (in the same
transaction as its inbox record, so each event is enqueued once). The sender posts due
deliveries concurrently, each with its own timeout, so a dead endpoint only delays itself.
"""

import asyncio
import base64
import json
import logging
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

import httpx
from nats.js.api import ConsumerConfig, DeliverPolicy
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook

from services.coordinator.models import WebhookDelivery, WebhookSubscription
from shared.db import utcnow
from shared.events.envelope import CONTENT_TYPE
from shared.events.filters import EventFilter
from shared.events.validation import CheckedEvent
from shared.messaging.consumer import Delivery
from shared.messaging.nats import STREAM_NAME, NatsLink

__all__ = ["WebhookSender", "enqueue_event", "new_secret", "replay_since"]

log = logging.getLogger(__name__)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _filter(subscription: WebhookSubscription) -> EventFilter:
    return EventFilter(
        tuple(subscription.types),
        tuple(subscription.kinds),
        tuple(subscription.regions),
        tuple(subscription.organisations),
    )


def _enqueue(
    session: Session,
    subject: str,
    payload: bytes,
    sequence: int,
    replay: bool,
    subscriptions: Sequence[WebhookSubscription],
    now: datetime,
) -> int:
    try:
        event = json.loads(payload)
    except ValueError:
        return 0
    count = 0
    for subscription in subscriptions:
        if isinstance(event, dict) and _filter(subscription).matches(subject, event):
            session.add(
                WebhookDelivery(
                    subscription_id=subscription.id,
                    event_id=str(event.get("id")),
                    event_type=str(event.get("type")),
                    stream_sequence=sequence,
                    payload=payload.decode(),
                    replay=replay,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    last_status_code=None,
                    last_error="",
                    delivered_at=None,
                    created_at=now,
                )
            )
            count += 1
    return count


def enqueue_event(session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
    """Consumer handler: one pending delivery per active subscription the event passes."""
    active = list(session.scalars(select(WebhookSubscription).where(WebhookSubscription.active.is_(True))))
    _enqueue(session, delivery.subject, delivery.payload, delivery.stream_sequence, False, active, utcnow())


async def replay_since(
    link: NatsLink, session_factory: sessionmaker[Session], subscription_id: str, since: datetime
) -> int:
    """Enqueue again every event since ``since`` that the subscription's filters pass."""
    js = await link.jetstream()
    last = (await js.stream_info(STREAM_NAME)).state.last_seq
    with session_factory() as session:
        subscription = session.get(WebhookSubscription, subscription_id)
        assert subscription is not None
        count = 0
        if last:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=since)
            sub = await js.subscribe("sifang.>", ordered_consumer=True, config=config)
            try:
                while True:
                    try:
                        message = await sub.next_msg(timeout=2.0)
                    except TimeoutError:
                        break
                    sequence = message.metadata.sequence.stream
                    count += _enqueue(
                        session, message.subject, message.data, sequence, True, [subscription], utcnow()
                    )
                    if sequence >= last:
                        break
            finally:
                await sub.unsubscribe()
        session.commit()
        return count


class WebhookSender:
    """Posts due deliveries; failures wait ``backoff[attempt]`` seconds, and past the schedule
    the delivery is dead (kept in the log, replayable)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        backoff: Sequence[float],
        timeout: float = 5.0,
        batch_size: int = 50,
        poll_interval: float = 0.5,
    ) -> None:
        self._session_factory = session_factory
        self.backoff = list(backoff)
        self._timeout = timeout
        self._batch_size = batch_size
        self._poll_interval = poll_interval

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client:
            while True:
                try:
                    sent = await self.send_due(client)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("webhook sender: %s", exc)
                    sent = 0
                if sent < self._batch_size:
                    await asyncio.sleep(self._poll_interval)

    def _due(self) -> list[tuple[int, str, str, str, str]]:
        with self._session_factory() as session:
            query = (
                select(
                    WebhookDelivery.id,
                    WebhookDelivery.event_id,
                    WebhookDelivery.payload,
                    WebhookSubscription.url,
                    WebhookSubscription.secret,
                )
                .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= utcnow())
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(self._batch_size)
            )
            return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]

    async def send_due(self, client: httpx.AsyncClient) -> int:
        due = await asyncio.to_thread(self._due)
        results = await asyncio.gather(*(self._post(client, *row) for row in due))
        if results:
            await asyncio.to_thread(self._record, results)
        return len(due)

    async def _post(
        self, client: httpx.AsyncClient, delivery_id: int, event_id: str, payload: str, url: str, secret: str
    ) -> tuple[int, int | None, str]:
        now = utcnow()
        signature = Webhook(secret).sign(event_id, now, payload)
        headers = {
            "webhook-id": event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
            "content-type": CONTENT_TYPE,
        }
        try:
            response = await client.post(url, content=payload.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return delivery_id, None, f"{type(exc).__name__}: {exc}"[:500]
        error = "" if response.is_success else f"HTTP {response.status_code}: {response.text[:200]}"
        return delivery_id, response.status_code, error

    def _record(self, results: list[tuple[int, int | None, str]]) -> None:
        now = utcnow()
        with self._session_factory() as session:
            for delivery_id, status_code, error in results:
                delivery = session.get(WebhookDelivery, delivery_id)
                if delivery is None:
                    continue
                delivery.attempts += 1
                delivery.last_status_code = status_code
                delivery.last_error = error
                if not error:
                    delivery.status, delivery.delivered_at = "delivered", now
                elif delivery.attempts > len(self.backoff):
                    delivery.status = "dead"
                else:
                    delivery.next_attempt_at = now + timedelta(seconds=self.backoff[delivery.attempts - 1])
            session.commit()
