"""The coordinator service (port 8100): consumes every stakeholder event into its own state."""

from typing import ClassVar

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.coordinator.projection import apply_event
from services.coordinator.views import router
from shared.app import Runtime, build_runtime, create_service_app
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


SETTINGS = CoordinatorSettings


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
        handler=apply_event,
        max_deliver=settings.max_deliver,
        backoff=settings.backoff,
        ack_wait=settings.ack_wait,
    )


def create_app(settings: CoordinatorSettings | None = None) -> FastAPI:
    settings = settings or CoordinatorSettings()
    runtime = build_runtime(settings)
    consumer = stakeholder_consumer(settings, runtime)

    async def consume(rt: Runtime) -> None:
        await consumer.run(rt.link)

    return create_service_app(
        runtime,
        title="Sifang coordinator",
        description="The registry of organisations and the book of open needs and offers, "
        "built from every stakeholder event, with the event log and dead letters.",
        routers=[router],
        workers=[consume],
    )
