"""Prometheus metrics at ``/metrics`` on every service.

Requests are counted and timed by :class:`RequestMetrics` (labelled by method, route template and
status, never by the raw path, so ids do not multiply the series). The rest is read when
Prometheus scrapes, from what the service already keeps: the outbox relay's count of published
messages, the outbox backlog and the age of its oldest row, each consumer's settled and
redelivered messages and its lag, dead letters not yet re-driven, and writes refused under
overload. Each app has its own registry, so several apps in one process (the tests) do not
collide.
"""

import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.db import utcnow
from shared.group_commit import GroupCommit
from shared.messaging.consumer import EventConsumer
from shared.messaging.models import DeadLetter, OutboxMessage
from shared.messaging.outbox import OutboxRelay

__all__ = ["MATCH_SOLVE_SECONDS", "RequestMetrics", "ServiceCollector", "age_seconds", "service_registry"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Time to re-solve one matching partition (load, allocate, reconcile, write). Process-wide: the
# coordinator's app registers it into its own registry (``create_service_app(collectors=...)``).
MATCH_SOLVE_SECONDS = Histogram(
    "sifang_match_solve_seconds",
    "Time to re-solve one matching partition: load it, allocate, reconcile and write the changes",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=None,
)
_OUTBOX: Table = OutboxMessage.__table__  # type: ignore[assignment]
_DEAD: Table = DeadLetter.__table__  # type: ignore[assignment]


class RequestMetrics:
    """ASGI middleware counting and timing HTTP requests by method, route template and status."""

    def __init__(self, app: ASGIApp, *, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "sifang_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "sifang_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before starting a response

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            template = str(getattr(route, "path", "")) or "unmatched"
            method = str(scope["method"])
            self.requests.labels(method, template, str(status)).inc()
            self.latency.labels(method, template).observe(time.perf_counter() - started)


class ServiceCollector(Collector):
    """What a service keeps anyway, read at each scrape."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        relay: OutboxRelay,
        consumers: Sequence[EventConsumer],
        writer: GroupCommit | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.relay = relay
        self.consumers = consumers
        self.writer = writer

    def collect(self) -> Iterable[Metric]:
        yield CounterMetricFamily(
            "sifang_outbox_published",
            "Outbox messages this process published to JetStream",
            value=self.relay.published,
        )
        if self.writer is not None:
            yield CounterMetricFamily(
                "sifang_group_commit_transactions",
                "Transactions the group commit committed (needs and offers published)",
                value=self.writer.transactions,
            )
            yield CounterMetricFamily(
                "sifang_group_commit_writes", "Writes those transactions carried", value=self.writer.writes
            )
        yield from self._database_gauges()
        settled = CounterMetricFamily(
            "sifang_consumer_settled", "Messages a consumer settled", labels=["consumer"]
        )
        redelivered = CounterMetricFamily(
            "sifang_consumer_redelivered",
            "Settled messages the server had delivered before",
            labels=["consumer"],
        )
        lag = GaugeMetricFamily(
            "sifang_consumer_pending",
            "Messages in the stream after the last one fetched",
            labels=["consumer"],
        )
        for consumer in self.consumers:
            state = consumer.state
            settled.add_metric([consumer.name], state.settled)
            redelivered.add_metric([consumer.name], state.redelivered)
            if state.pending is not None:
                lag.add_metric([consumer.name], state.pending)
        yield from (settled, redelivered, lag)

    def _database_gauges(self) -> Iterable[Metric]:
        backlog = GaugeMetricFamily("sifang_outbox_backlog", "Outbox rows not yet published")
        age = GaugeMetricFamily(
            "sifang_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row"
        )
        dead = GaugeMetricFamily("sifang_dead_letters", "Dead letters not yet re-driven", labels=["consumer"])
        try:
            with self.session_factory() as session:
                count, oldest = session.execute(
                    select(func.count(), func.min(_OUTBOX.c.created_at)).where(
                        _OUTBOX.c.published_at.is_(None)
                    )
                ).one()
                letters = session.execute(
                    select(_DEAD.c.consumer, func.count())
                    .where(_DEAD.c.redriven_at.is_(None))
                    .group_by(_DEAD.c.consumer)
                ).all()
        except Exception:  # the database is down: /healthz says so; the other metrics still count
            return
        backlog.add_metric([], count)
        age.add_metric([], age_seconds(oldest))
        for consumer, letters_count in letters:
            dead.add_metric([consumer], letters_count)
        yield from (backlog, age, dead)


def age_seconds(moment: datetime | str | None) -> float:
    """Seconds since ``moment``, 0 for None. SQLite hands back naive UTC timestamps, or text, from
    aggregates (no column type applies to them)."""
    if moment is None:
        return 0.0
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (utcnow() - moment).total_seconds())


def service_registry() -> CollectorRegistry:
    """An empty registry for one app."""
    return CollectorRegistry(auto_describe=True)
