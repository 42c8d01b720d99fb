"""The one place a service is wired together: settings → engine, NATS link, outbox relay, app."""

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import fastapi.routing
from fastapi import APIRouter, Depends, FastAPI, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.registry import Collector
from pydantic import BaseModel, Field
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from shared.auth import check_admin
from shared.db import UnitOfWork, make_engine
from shared.group_commit import GroupCommit
from shared.http_errors import install_error_handlers
from shared.logs import configure_logging
from shared.messaging.consumer import EventConsumer
from shared.messaging.nats import NatsLink
from shared.messaging.outbox import OutboxRelay
from shared.metrics import RequestMetrics, ServiceCollector, service_registry
from shared.settings import ServiceSettings
from shared.text_guard import TextGuard
from shared.tracing import TraceRequests, configure_tracing
from shared.write_limit import WriteLimit

__all__ = [
    "AdminDep",
    "BearerDep",
    "Runtime",
    "RuntimeDep",
    "Scoped",
    "UowDep",
    "build_runtime",
    "create_service_app",
]

log = logging.getLogger(__name__)

Worker = Callable[["Runtime"], Coroutine[Any, Any, None]]


@dataclass
class Runtime:
    """What a running service holds: its settings, database and link to NATS."""

    settings: ServiceSettings
    engine: Engine
    session_factory: sessionmaker[Session]
    link: NatsLink
    relay: OutboxRelay
    writer: GroupCommit  # writes that many requests make alike, committed together

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, after_commit=self.relay.wake)


def build_runtime(settings: ServiceSettings) -> Runtime:
    engine = make_engine(settings.effective_database_url)
    session_factory = sessionmaker(engine, expire_on_commit=False)
    link = NatsLink(
        settings.nats_url,
        f"sifang-{settings.service_name}",
        user=settings.nats_user,
        password=settings.nats_secret,
        stream_replicas=settings.stream_replicas,
    )
    relay = OutboxRelay(session_factory, link)
    writer = GroupCommit(session_factory, after_commit=relay.wake, name=f"{settings.service_name}-writer")
    return Runtime(settings, engine, session_factory, link, relay, writer)


async def get_runtime(request: Request) -> Runtime:  # async: no thread hop
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_uow(runtime: RuntimeDep) -> AsyncIterator[UnitOfWork]:
    """The request's unit of work. Opening it does no I/O, so the event loop does it; closing it
    may (a rollback), so a worker thread does that: a thread hop fewer per request."""
    uow = runtime.unit_of_work().__enter__()
    try:
        yield uow
    finally:
        await run_in_threadpool(uow.__exit__, None, None, None)


UowDep = Annotated[UnitOfWork, Depends(get_uow)]
BEARER = HTTPBearer(
    auto_error=False,
    description="`Authorization: Bearer <credential>`: an organisation's API key (stakeholder "
    "services), a scoped API token (coordinator), or the admin token (bootstrap). The scopes "
    "listed with each operation are the ones it needs.",
)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]


class Scoped:
    """Base of the dependencies that admit a request only with ``scope``; the OpenAPI document
    lists the scopes of every such dependency as the operation's security requirement."""

    scope: str


def _scopes(dependant: Dependant) -> set[str]:
    found = {dependant.call.scope} if isinstance(dependant.call, Scoped) else set()
    for sub in dependant.dependencies:
        found |= _scopes(sub)
    return found


def _api_routes(app: FastAPI) -> Iterator[Any]:
    """Every API route of ``app`` as the OpenAPI document sees it (with the dependencies of the
    routers that include it): ``path_format``, ``methods``, ``dependant``, ``include_in_schema``."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if contexts is None:  # FastAPI before included routers were kept as such
        yield from (r for r in app.routes if isinstance(r, APIRoute))
        return
    for context in contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def _document_scopes(app: FastAPI) -> None:
    """Make ``app.openapi()`` list, per operation, the scopes its dependencies check."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # cached by FastAPI until the routes change; marking again is idempotent
        scheme = BEARER.scheme_name
        for route in _api_routes(app):
            if not route.include_in_schema:
                continue
            scopes = sorted(_scopes(route.dependant))
            operations = schema.get("paths", {}).get(route.path_format, {})
            for method in route.methods or ():
                operation = operations.get(method.lower())
                if operation is not None and scopes:
                    operation["security"] = [{scheme: scopes}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def require_admin(credentials: BearerDep, runtime: RuntimeDep) -> None:
    check_admin(credentials, runtime.settings.admin_token)


AdminDep = Depends(require_admin)


def freeze_startup_heap() -> None:
    """Take what is alive once a service has started (modules, models, compiled queries,
    schemas) out of the garbage collector's full collections, which then walk only what
    requests and events create since. Without this a full collection in the coordinator
    walked the whole heap for 80–130 ms, and every event in flight waited for it (the tail of
    ``POST /needs`` → ``match.proposed``, ``bench_latency``). Stopping unfreezes them."""
    gc.collect()
    gc.freeze()


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel background tasks, again if need be: a NATS connect in progress can swallow
    one cancellation, and shutdown must not hang on it."""
    pending = set(tasks)
    for _ in range(20):
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
        if not pending:
            return
    log.error("background tasks did not stop: %s", [t.get_name() for t in pending])


class ConsumerHealth(BaseModel):
    state: Literal["running", "not started", "paused"]
    paused_since: str | None
    reason: str | None
    last_applied_sequence: int | None


class Health(BaseModel):
    """What ``/healthz`` says: ``ok``, or ``degraded`` (503) with the reason in its parts."""

    service: str
    status: Literal["ok", "degraded"]
    database: str = Field(description="ok, or unavailable: <error>")
    nats: Literal["connected", "not connected"]
    consumers: dict[str, ConsumerHealth] | None = None


def create_service_app(
    runtime: Runtime,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    workers: Sequence[Worker] = (),
    consumers: Sequence[EventConsumer] = (),
    limit_writes: bool = False,
    grouped_writes: frozenset[tuple[str, str]] = frozenset(),
    collectors: Sequence[Collector] = (),
) -> FastAPI:
    """A FastAPI app that relays its outbox and runs ``workers`` while it is up; ``/healthz``
    reports the state of ``consumers`` (a consumer paused for its database is degraded). With
    ``limit_writes``, writes beyond the settings' ``max_inflight_writes`` get a fast 503;
    ``grouped_writes`` (method, path) are made by ``runtime.writer`` and wait for no turn."""
    configure_logging()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        freeze_startup_heap()
        tasks = [asyncio.create_task(runtime.relay.run(), name="outbox-relay")]
        tasks += [asyncio.create_task(worker(runtime)) for worker in workers]
        try:
            yield
        finally:
            await asyncio.to_thread(runtime.writer.stop)  # before the relay: its last commits may go out now
            await _stop(tasks)
            await runtime.link.close()
            runtime.engine.dispose()
            gc.unfreeze()  # collectable again (an app started and stopped in a test process)

    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    app.state.runtime = runtime
    install_error_handlers(app)
    registry = service_registry()
    writer = runtime.writer if grouped_writes else None  # its counters where it is used
    registry.register(ServiceCollector(runtime.session_factory, runtime.relay, consumers, writer))
    for collector in collectors:  # a service's own metrics
        registry.register(collector)
    if limit_writes:
        settings = runtime.settings
        sqlite = runtime.engine.dialect.name == "sqlite"
        refused = PromCounter(
            "sifang_writes_refused", "Writes answered 503 because too many were in flight", registry=registry
        )
        app.add_middleware(
            WriteLimit,
            limit=settings.max_inflight_writes,
            retry_after=settings.retry_after_seconds,
            workers=settings.concurrent_writes or (2 if sqlite else None),
            grouped=grouped_writes,
            on_refused=refused.inc,
        )
    app.add_middleware(TextGuard)  # refused text never takes a write slot
    app.add_middleware(RequestMetrics, registry=registry)  # every answer is counted
    configure_tracing(runtime.settings.service_name)
    app.add_middleware(TraceRequests)  # outermost: the span covers all the rest (a no-op when off)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=PlainTextResponse)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get(
        "/healthz",
        tags=["operations"],
        summary="Liveness and dependencies",
        response_model=Health,
        responses={
            503: {"model": Health, "description": "degraded: the database or a consumer is not working"}
        },
    )
    def healthz() -> JSONResponse:
        body: dict[str, Any] = {"service": runtime.settings.service_name}
        try:
            with runtime.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            body["database"] = "ok"
        except Exception as exc:
            body["database"] = f"unavailable: {type(exc).__name__}"
        body["nats"] = "connected" if runtime.link.connected else "not connected"
        states = {consumer.name: consumer.state.as_dict() for consumer in consumers}
        if states:
            body["consumers"] = states
        paused = any(state["state"] == "paused" for state in states.values())
        body["status"] = "ok" if body["database"] == "ok" and not paused else "degraded"
        health = Health.model_validate(body)
        exclude = {"consumers"} if health.consumers is None else set()
        status_code = 200 if health.status == "ok" else 503
        return JSONResponse(health.model_dump(mode="json", exclude=exclude), status_code=status_code)

    for router in routers:
        app.include_router(router)
    _document_scopes(app)
    return app
