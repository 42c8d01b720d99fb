"""The coordinator's own metrics, read at each scrape: events held for what they build on, and
webhook deliveries waiting per endpoint (``/metrics``; the shared ones are in shared/metrics.py)."""

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.coordinator.integrations.models import WebhookDelivery, WebhookSubscription
from services.coordinator.journal.models import HeldEvent
from shared.metrics import age_seconds

__all__ = ["CoordinatorCollector"]


class CoordinatorCollector(Collector):
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    def collect(self) -> Iterable[Metric]:
        held = GaugeMetricFamily("sifang_held_events", "Events waiting for what they build on")
        held_age = GaugeMetricFamily("sifang_held_events_oldest_age_seconds", "Age of the oldest held event")
        queue = GaugeMetricFamily(
            "sifang_webhook_queue",
            "Webhook deliveries waiting to be sent, per endpoint",
            labels=["webhook", "url"],
        )
        queue_age = GaugeMetricFamily(
            "sifang_webhook_queue_oldest_age_seconds",
            "Age of the oldest waiting delivery, per endpoint",
            labels=["webhook"],
        )
        try:
            with self.session_factory() as session:
                count, oldest = session.execute(select(func.count(), func.min(HeldEvent.held_at))).one()
                waiting = session.execute(
                    select(
                        WebhookSubscription.id,
                        WebhookSubscription.url,
                        func.count(WebhookDelivery.id),
                        func.min(WebhookDelivery.created_at),
                    )
                    .join(WebhookDelivery, WebhookDelivery.subscription_id == WebhookSubscription.id)
                    .where(WebhookDelivery.status == "pending")
                    .group_by(WebhookSubscription.id, WebhookSubscription.url)
                ).all()
        except Exception:  # the database is down: /healthz says so
            return
        held.add_metric([], count)
        held_age.add_metric([], age_seconds(oldest))
        for subscription_id, url, pending, first in waiting:
            queue.add_metric([subscription_id, url], pending)
            queue_age.add_metric([subscription_id], age_seconds(first))
        yield from (held, held_age, queue, queue_age)
