"""The coordinator's settings (environment variables ``COORDINATOR_*``)."""

import os
from collections.abc import Sequence
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network
from typing import ClassVar

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.coordinator.clock import CLOCK_REGION
from services.coordinator.matches.service import MatchPolicy, ResolveAt
from services.coordinator.matching.allocation import FairSplit
from services.coordinator.matching.reach import notice_regions
from shared.app import Runtime
from shared.events.catalogue import CATALOGUE
from shared.events.subjects import STAKEHOLDER_KINDS
from shared.settings import ServiceSettings

__all__ = ["CoordinatorSettings", "consumer_filters", "consumer_name", "settings_of"]


class CoordinatorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="COORDINATOR_", extra="ignore")
    service_name: ClassVar[str] = "coordinator"
    port: int = 8100
    regions: list[str] = Field(
        default_factory=list,
        description="six-digit county codes this coordinator handles; empty means all",
    )
    partition: str = Field(
        default="",
        pattern=r"^[a-z0-9][a-z0-9_-]{0,179}$|^$",
        description="the name of this coordinator's partition (its durable consumer is "
        "coordinator-<name>); keep it when counties move (empty: named after its counties)",
    )
    province_url: str = Field(
        default="",
        description="the read router over every partition (sifang province serve), for the "
        "dashboard's province page; empty: the page shows this coordinator's own partition",
    )
    province_token: str = Field(default="", description="a caller token of that read router")
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
    fair_split: FairSplit = Field(
        default="max_min",
        description="how a contested offer is split between organisations: max_min or proportional",
    )
    keep_best: int | None = Field(
        default=16,
        ge=1,
        description="each need's and offer's best-scoring pairs the allocation considers (empty: all)",
    )
    resolve_at: ResolveAt = Field(
        default="event",
        description="when a changed need or offer is re-solved: at its event (event), or at the "
        "next re-solve point the coordinator puts on the stream (tick; see README, Matching)",
    )
    resolve_batch: int = Field(
        default=64, ge=1, description="partitions one re-solve point solves at most (resolve_at=tick)"
    )
    solve_threads: int = Field(
        default_factory=lambda: min(4, os.cpu_count() or 1),
        ge=1,
        le=64,
        description="partitions of one re-solve solved side by side on threads (default: the cores, "
        "at most 4); the result is the same as one after another",
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

    @field_validator("partition")
    @classmethod
    def _not_the_webhook_consumer(cls, value: str) -> str:
        if value.startswith("webhooks"):
            raise ValueError("coordinator-webhooks… names the webhook sender's consumer")
        return value

    @property
    def hold_timeout(self) -> timedelta:
        return timedelta(seconds=self.hold_timeout_seconds)

    @property
    def match_policy(self) -> MatchPolicy:
        return MatchPolicy(
            fair_split=self.fair_split,
            keep_best=self.keep_best,
            resolve_at=self.resolve_at,
            resolve_batch=self.resolve_batch,
            solve_threads=self.solve_threads,
            response_time=timedelta(hours=self.response_hours),
            regions=tuple(self.regions),
            owner=consumer_name(self),
        )


def consumer_filters(regions: Sequence[str]) -> list[str]:
    """The subjects a coordinator owning ``regions`` (empty: all) consumes.

    Everything the stakeholders say in its counties; every organisation's registration, in
    whichever county (each partition knows every organisation: a village's need in one county
    may come from an enterprise registered in another); the re-solve points; and its counties'
    instructions. NATS refuses overlapping filters, so a partition's own counties are listed per
    entity, without ``organisation``.
    """
    if not regions:
        filters = [f"sifang.{kind}.>" for kind in STAKEHOLDER_KINDS]
    else:
        filters = [f"sifang.{kind}.*.organisation.>" for kind in STAKEHOLDER_KINDS]
        filters += [
            f"sifang.{kind}.{region}.{entity}.>"
            for kind in STAKEHOLDER_KINDS
            for region in regions
            for entity in _entities_of(kind)
        ]
    # The coordinator's own decisions come back through the stream before they take effect.
    filters += [f"sifang.coordinator.{CLOCK_REGION}.clock.ticked"]
    filters += [f"sifang.coordinator.{region}.instruction.issued" for region in regions or ["*"]]
    # what other partitions' offers that serve these counties have left (none without partitions)
    filters += [f"sifang.coordinator.{region}.offer.shared" for region in notice_regions(regions)]
    return filters


def _entities_of(kind: str) -> list[str]:
    """The entities other than organisations that ``kind`` publishes events about."""
    entities = {t.entity for t in CATALOGUE.values() if kind in t.publishers}
    return sorted(entities - {"organisation"})


def consumer_name(settings: CoordinatorSettings) -> str:
    """The durable consumer (and clock) of this coordinator: one per partition."""
    if settings.partition:
        return f"coordinator-{settings.partition}"
    return "coordinator" if not settings.regions else "coordinator-" + "-".join(settings.regions)


def settings_of(runtime: Runtime) -> CoordinatorSettings:
    """The coordinator's settings held by its runtime."""
    if not isinstance(runtime.settings, CoordinatorSettings):
        raise TypeError("not a coordinator's runtime")
    return runtime.settings
