"""The coordinator service (port 8100): consumes every stakeholder event into its own state."""

import logging
from collections.abc import Callable
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network
from typing import ClassVar
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.coordinator.access.tokens import router as token_router
from services.coordinator.clock import CLOCK_REGION, run_clock
from services.coordinator.dashboard.sessions import DashboardSessions
from services.coordinator.dashboard.views import LoginRequired, session_policy
from services.coordinator.dashboard.views import router as dashboard_router
from services.coordinator.integrations.contract_views import router as contract_router
from services.coordinator.integrations.destinations import DestinationPolicy
from services.coordinator.integrations.feed import Wakeup
from services.coordinator.integrations.stream_views import router as stream_router
from services.coordinator.integrations.webhook_views import router as webhook_router
from services.coordinator.integrations.webhooks import WebhookSender, retire_raw_stream_consumer, run_enqueuer
from services.coordinator.matches.service import MatchPolicy
from services.coordinator.meetings.views import router as meeting_router
from services.coordinator.projection import CoordinatorProjection, conflicting_copy
from services.coordinator.views import router
from shared.app import Runtime, build_runtime, create_service_app
from shared.events.subjects import STAKEHOLDER_KINDS
from shared.messaging.consumer import EventConsumer
from shared.settings import ServiceSettings

__all__ = ["SETTINGS", "CoordinatorSettings", "consumer_name", "create_app", "stakeholder_consumer"]


class CoordinatorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="COORDINATOR_", extra="ignore")
    service_name: ClassVar[str] = "coordinator"
    port: int = 8100
    regions: list[str] = Field(
        default_factory=list,
        description="six-digit region codes this coordinator handles; empty means all",
    )
    max_deliver: int = Field(
        default=10,
        ge=2,
        description="deliveries of one event without it being settled (the coordinator died "
        "applying it each time) after which it is dead-lettered instead of applied again",
    )
    backoff: list[float] = Field(
        default_factory=lambda: [0.5, 2.0, 5.0],
        description="seconds before each new try of an event whose handler failed while the "
        "database worked; after the last it is dead-lettered (database outages never count)",
    )
    ack_wait: float = Field(
        default=10.0, gt=0, description="seconds before an event held by a dead coordinator returns"
    )
    hold_timeout_seconds: float = Field(
        default=600.0,
        gt=0,
        description="how long an event that came before what it builds on is held before it is dead-lettered",
    )
    fairness_cap: float = Field(
        default=0.5, gt=0, le=1, description="most of a contested offer one organisation may take"
    )
    response_hours: float = Field(default=72.0, gt=0, description="time the parties have to answer")
    expiry_check_seconds: float = Field(default=30.0, gt=0)
    webhook_backoff: list[float] = Field(
        default_factory=lambda: [5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0],
        description="seconds before each retry of a failed webhook delivery; then it is dead",
    )
    webhook_timeout: float = Field(default=5.0, gt=0, description="seconds an endpoint has to answer")
    webhook_concurrency: int = Field(
        default=1,
        ge=1,
        le=64,
        description="deliveries in flight at once to one endpoint; above 1 they may arrive out of order",
    )
    webhook_disable_after: float = Field(
        default=86400.0,
        gt=0,
        description="seconds of nothing but failed attempts after which a subscription is disabled",
    )
    webhook_allowed_networks: list[IPv4Network | IPv6Network] = Field(
        default_factory=list,
        description="networks webhooks may be sent to although they are not globally routable "
        '(loopback, private, link-local, ...), e.g. ["10.20.0.0/16"]; plain http is allowed to them',
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="allow webhooks to every address that is not globally routable (development, tests)",
    )
    webhook_allow_http: bool = Field(
        default=False, description="allow plain http webhook URLs to public addresses too"
    )
    dashboard_session_hours: float = Field(
        default=12.0, gt=0, description="how long a dashboard sign-in lasts, however active"
    )
    dashboard_idle_minutes: float = Field(
        default=120.0, gt=0, description="a dashboard session without a request for this long ends"
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="failed sign-ins to one account within the window before it is locked"
    )
    login_max_failures_per_address: int = Field(
        default=20,
        ge=1,
        description="failed sign-ins from one client address within the window before it is locked",
    )
    login_window_minutes: float = Field(
        default=15.0, gt=0, description="the window of the sign-in throttle, and how long a lock lasts"
    )

    @property
    def match_policy(self) -> MatchPolicy:
        return MatchPolicy(fairness_cap=self.fairness_cap, response_time=timedelta(hours=self.response_hours))


SETTINGS = CoordinatorSettings
log = logging.getLogger(__name__)


def stakeholder_consumer(
    settings: CoordinatorSettings, runtime: Runtime, after_commit: Callable[[], None] | None = None
) -> EventConsumer:
    """The durable consumer of every stakeholder event (in this coordinator's regions);
    ``after_commit`` is called, besides waking the outbox relay, after each applied event."""

    def committed() -> None:
        runtime.relay.wake()
        if after_commit is not None:
            after_commit()

    regions = settings.regions or [">"]
    filters = [
        f"sifang.{kind}.>" if region == ">" else f"sifang.{kind}.{region}.>"
        for kind in STAKEHOLDER_KINDS
        for region in regions
    ]
    # The coordinator's own decisions come back through the stream before they take effect.
    filters += [f"sifang.coordinator.{CLOCK_REGION}.clock.ticked"]
    filters += [f"sifang.coordinator.{'*' if r == '>' else r}.instruction.issued" for r in regions]
    name = consumer_name(settings)
    return EventConsumer(
        name=name,
        filter_subjects=filters,
        session_factory=runtime.session_factory,
        handler=CoordinatorProjection(
            settings.match_policy,
            consumer=name,
            hold_timeout=timedelta(seconds=settings.hold_timeout_seconds),
        ),
        max_deliver=settings.max_deliver,
        backoff=settings.backoff,
        ack_wait=settings.ack_wait,
        after_commit=committed,
        check_duplicate=conflicting_copy,
    )


def consumer_name(settings: CoordinatorSettings) -> str:
    """The durable consumer (and clock) of this coordinator: one per set of regions."""
    return "coordinator" if not settings.regions else "coordinator-" + "-".join(settings.regions)


def create_app(settings: CoordinatorSettings | None = None) -> FastAPI:
    settings = settings or CoordinatorSettings()
    runtime = build_runtime(settings)
    # Wakes the integrators' feeds (SSE, webhooks) when the consumer has applied events.
    feed_wakeup = Wakeup()
    consumer = stakeholder_consumer(settings, runtime, after_commit=feed_wakeup.wake)

    async def consume(rt: Runtime) -> None:
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
            router,
            meeting_router,
            contract_router,
            stream_router,
            webhook_router,
            token_router,
            dashboard_router,
        ],
        workers=[consume, clock, enqueue_webhooks, send_webhooks, retire_webhook_consumer],
        consumers=[consumer],
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
