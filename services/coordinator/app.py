"""The coordinator service (port 8100): consumes every stakeholder event into its own state."""

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

from services.coordinator.access.views import router as token_router
from services.coordinator.book.views import router as book_router
from services.coordinator.clock import CLOCK_REGION, run_clock
from services.coordinator.dashboard.sessions import DashboardSessions
from services.coordinator.dashboard.views import LoginRequired, session_policy
from services.coordinator.dashboard.views import router as dashboard_router
from services.coordinator.funds.views import router as funds_router
from services.coordinator.integrations.contract_views import router as contract_router
from services.coordinator.integrations.destinations import DestinationPolicy
from services.coordinator.integrations.feed import Wakeup
from services.coordinator.integrations.stream_views import router as stream_router
from services.coordinator.integrations.webhook_views import router as webhook_router
from services.coordinator.integrations.webhooks import WebhookSender, retire_raw_stream_consumer, run_enqueuer
from services.coordinator.journal.service import PartitionMismatch, claim_partition
from services.coordinator.journal.views import router as journal_router
from services.coordinator.market.views import router as market_router
from services.coordinator.matches.views import router as matches_router
from services.coordinator.mediation.views import router as mediation_router
from services.coordinator.meetings.views import router as meeting_router
from services.coordinator.metrics import CoordinatorCollector
from services.coordinator.projection import CoordinatorProjection, conflicting_copy
from services.coordinator.projects.views import router as projects_router
from services.coordinator.registry.views import router as registry_router
from services.coordinator.settings import CoordinatorSettings, consumer_filters, consumer_name
from shared.app import Runtime, build_runtime, create_service_app
from shared.db import utcnow
from shared.messaging.consumer import EventConsumer, is_infrastructure_failure
from shared.metrics import MATCH_SOLVE_SECONDS

__all__ = ["SETTINGS", "CoordinatorSettings", "consumer_name", "create_app", "stakeholder_consumer"]


SETTINGS = CoordinatorSettings
log = logging.getLogger(__name__)


INGEST_BATCH = 64  # events fetched, applied in one transaction and committed at once


def stakeholder_consumer(
    settings: CoordinatorSettings, runtime: Runtime, after_commit: Callable[[], None] | None = None
) -> EventConsumer:
    """The durable consumer of every stakeholder event (in this coordinator's regions);
    ``after_commit`` is called, besides waking the outbox relay, after each applied event."""

    def committed() -> None:
        runtime.relay.wake()
        if after_commit is not None:
            after_commit()

    name = consumer_name(settings)
    projection = CoordinatorProjection(
        settings.match_policy,
        consumer=name,
        hold_timeout=timedelta(seconds=settings.hold_timeout_seconds),
    )
    return EventConsumer(
        name=name,
        filter_subjects=consumer_filters(settings.regions),
        session_factory=runtime.session_factory,
        handler=projection,
        read_ahead=projection.read_ahead,
        max_deliver=settings.max_deliver,
        backoff=settings.backoff,
        ack_wait=settings.ack_wait,
        after_commit=committed,
        check_duplicate=conflicting_copy,
        batch_size=INGEST_BATCH,
        # a tick may solve many partitions: the book events before it are committed first
        apply_alone=[f"sifang.coordinator.{CLOCK_REGION}.clock.ticked"],
    )


CLAIM_RETRY_SECONDS = 2.0


async def _claimed(runtime: Runtime, consumer: EventConsumer, regions: list[str]) -> bool:
    """Whether the database is the record of this partition (recording it on a first start), so
    the consumer may run; while the database cannot be reached it is asked again, the consumer
    reported paused with the reason, as when the database goes away later."""
    while True:
        try:
            await asyncio.to_thread(_claim_partition, runtime, consumer.name, regions)
        except PartitionMismatch as exc:  # consuming would leave a hole in the record
            log.error("not consuming: %s", exc)
            consumer.state.paused_since, consumer.state.paused_reason = utcnow(), str(exc)
            return False
        except Exception as exc:
            if not is_infrastructure_failure(exc):
                raise
            if consumer.state.paused_since is None:
                log.error("consumer %s: waiting for the database: %s", consumer.name, exc)
                consumer.state.paused_since = utcnow()
            consumer.state.paused_reason = f"database unavailable: {type(exc).__name__}: {exc}"[:300]
            await asyncio.sleep(CLAIM_RETRY_SECONDS)
            continue
        consumer.state.paused_since, consumer.state.paused_reason = None, ""
        return True


def _claim_partition(runtime: Runtime, consumer: str, regions: list[str]) -> None:
    with runtime.unit_of_work() as uow:
        claim_partition(uow.session, consumer, regions)
        uow.commit()


def create_app(settings: CoordinatorSettings | None = None) -> FastAPI:
    settings = settings or CoordinatorSettings()
    runtime = build_runtime(settings)
    # Wakes the integrators' feeds (SSE, webhooks) when the consumer has applied events.
    feed_wakeup = Wakeup()
    consumer = stakeholder_consumer(settings, runtime, after_commit=feed_wakeup.wake)

    async def consume(rt: Runtime) -> None:
        if await _claimed(rt, consumer, settings.regions):
            await consumer.run(rt.link)

    async def clock(rt: Runtime) -> None:
        hold_timeout = timedelta(seconds=settings.hold_timeout_seconds)
        await run_clock(rt, consumer.name, settings.expiry_check_seconds, hold_timeout)

    sender = WebhookSender(
        runtime.session_factory,
        backoff=settings.webhook_backoff,
        timeout=settings.webhook_timeout,
        concurrency=settings.webhook_concurrency,
        disable_after=settings.webhook_disable_after,
        destinations=DestinationPolicy.from_settings(settings),
    )

    async def enqueue_webhooks(rt: Runtime) -> None:
        await run_enqueuer(rt.session_factory, feed_wakeup, sender)

    async def send_webhooks(rt: Runtime) -> None:
        await sender.run()

    async def retire_webhook_consumer(rt: Runtime) -> None:
        await retire_raw_stream_consumer(rt.link)

    app = create_service_app(
        runtime,
        title="Sifang coordinator",
        description="The registry of organisations and the book of open needs and offers, "
        "built from every stakeholder event, with the event log and dead letters.",
        routers=[
            registry_router,
            book_router,
            journal_router,
            market_router,
            funds_router,
            projects_router,
            mediation_router,
            matches_router,
            meeting_router,
            contract_router,
            stream_router,
            webhook_router,
            token_router,
            dashboard_router,
        ],
        workers=[consume, clock, enqueue_webhooks, send_webhooks, retire_webhook_consumer],
        consumers=[consumer],
        collectors=[CoordinatorCollector(runtime.session_factory), MATCH_SOLVE_SECONDS],
    )
    app.state.feed_wakeup = feed_wakeup
    app.state.webhook_sender = sender
    # Server-side dashboard sessions (the cookie is only a random id) and the dashboard's CSP.
    app.add_middleware(
        DashboardSessions, session_factory=runtime.session_factory, policy=session_policy(settings)
    )

    @app.exception_handler(LoginRequired)
    async def _login(_: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/dashboard/login?next={quote(exc.next_path)}", status_code=303)

    return app
