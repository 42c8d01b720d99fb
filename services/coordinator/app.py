"""The coordinator service (port 8100): consumes every stakeholder event into its own state."""

import asyncio
import hashlib
import hmac
import logging
import secrets
from datetime import timedelta
from typing import ClassVar
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from pydantic import Field
from pydantic_settings import SettingsConfigDict
from starlette.middleware.sessions import SessionMiddleware

from services.coordinator import meetings
from services.coordinator.contract_views import router as contract_router
from services.coordinator.dashboard.views import LoginRequired
from services.coordinator.dashboard.views import router as dashboard_router
from services.coordinator.matchmaker import MatchPolicy, expire_due
from services.coordinator.meeting_views import router as meeting_router
from services.coordinator.projection import CoordinatorProjection
from services.coordinator.stream_views import router as stream_router
from services.coordinator.views import router
from services.coordinator.webhook_views import router as webhook_router
from services.coordinator.webhooks import WebhookSender, enqueue_event
from shared.app import Runtime, build_runtime, create_service_app
from shared.db import utcnow
from shared.events.subjects import STAKEHOLDER_KINDS
from shared.messaging.consumer import EventConsumer
from shared.settings import ServiceSettings

__all__ = ["SETTINGS", "CoordinatorSettings", "create_app", "stakeholder_consumer"]


class CoordinatorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="COORDINATOR_", extra="ignore")
    service_name: ClassVar[str] = "coordinator"
    port: int = 8100
    regions: list[str] = Field(
        default_factory=list,
        description="six-digit region codes this coordinator handles; empty means all",
    )
    max_deliver: int = Field(default=5, ge=2)
    backoff: list[float] = Field(
        default_factory=lambda: [1.0, 5.0, 15.0, 30.0],
        description="seconds to wait before each redelivery of an event that failed",
    )
    ack_wait: float = Field(
        default=30.0, gt=0, description="seconds before messages held by a dead consumer return"
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
    session_secret: str | None = Field(
        default=None,
        min_length=32,
        description="signs dashboard sessions; default: derived from the admin token",
    )

    @property
    def effective_session_secret(self) -> str:
        if self.session_secret:
            return self.session_secret
        if self.admin_token:
            return hmac.new(
                self.admin_token.encode(), b"sifang-dashboard-sessions", hashlib.sha256
            ).hexdigest()
        return secrets.token_hex(32)  # no token: sessions last as long as the process

    @property
    def match_policy(self) -> MatchPolicy:
        return MatchPolicy(fairness_cap=self.fairness_cap, response_time=timedelta(hours=self.response_hours))


SETTINGS = CoordinatorSettings
log = logging.getLogger(__name__)


def stakeholder_consumer(settings: CoordinatorSettings, runtime: Runtime) -> EventConsumer:
    """The durable consumer of every stakeholder event (in this coordinator's regions)."""
    regions = settings.regions or [">"]
    filters = [
        f"sifang.{kind}.>" if region == ">" else f"sifang.{kind}.{region}.>"
        for kind in STAKEHOLDER_KINDS
        for region in regions
    ]
    name = "coordinator" if not settings.regions else "coordinator-" + "-".join(settings.regions)
    return EventConsumer(
        name=name,
        filter_subjects=filters,
        session_factory=runtime.session_factory,
        handler=CoordinatorProjection(settings.match_policy),
        max_deliver=settings.max_deliver,
        backoff=settings.backoff,
        ack_wait=settings.ack_wait,
        after_commit=runtime.relay.wake,
    )


async def expire_matches(settings: CoordinatorSettings, runtime: Runtime) -> None:
    """Clock-driven work, every ``expiry_check_seconds``: see ``_expire_once``."""
    while True:
        try:
            await asyncio.to_thread(_expire_once, settings, runtime)
        except Exception as exc:
            log.warning("expiring matches failed: %s", exc)
        await asyncio.sleep(settings.expiry_check_seconds)


def _expire_once(settings: CoordinatorSettings, runtime: Runtime) -> None:
    """One pass of the clock-driven work: expiries, overdue actions, agendas at their cut-off."""
    now = utcnow()
    with runtime.unit_of_work() as uow:
        expire_due(uow.session, settings.match_policy, now)
        meetings.mark_overdue(uow.session, now.date())
        for meeting_id in meetings.meetings_due_for_agenda(uow.session, now):
            meetings.compile_meeting_agenda(
                uow.session, meeting_id, as_of=now, made_by="compiled at the cut-off"
            )
        uow.commit()


def create_app(settings: CoordinatorSettings | None = None) -> FastAPI:
    settings = settings or CoordinatorSettings()
    runtime = build_runtime(settings)
    consumer = stakeholder_consumer(settings, runtime)

    async def consume(rt: Runtime) -> None:
        await consumer.run(rt.link)

    async def expire(rt: Runtime) -> None:
        await expire_matches(settings, rt)

    webhook_consumer = EventConsumer(
        name="coordinator-webhooks",
        filter_subjects=["sifang.>"],
        session_factory=runtime.session_factory,
        handler=enqueue_event,
        max_deliver=settings.max_deliver,
        backoff=settings.backoff,
        ack_wait=settings.ack_wait,
    )
    sender = WebhookSender(
        runtime.session_factory, backoff=settings.webhook_backoff, timeout=settings.webhook_timeout
    )

    async def enqueue_webhooks(rt: Runtime) -> None:
        await webhook_consumer.run(rt.link)

    async def send_webhooks(rt: Runtime) -> None:
        await sender.run()

    app = create_service_app(
        runtime,
        title="Sifang coordinator",
        description="The registry of organisations and the book of open needs and offers, "
        "built from every stakeholder event, with the event log and dead letters.",
        routers=[router, meeting_router, contract_router, stream_router, webhook_router, dashboard_router],
        workers=[consume, expire, enqueue_webhooks, send_webhooks],
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.effective_session_secret,
        same_site="lax",
        https_only=settings.mode == "production",
        max_age=12 * 3600,
    )

    @app.exception_handler(LoginRequired)
    async def _login(_: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/dashboard/login?next={quote(exc.next_path)}", status_code=303)

    return app
