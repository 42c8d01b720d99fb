"""The one place a service is wired together: settings → engine, NATS link, outbox relay, app."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from shared.auth import check_admin
from shared.db import UnitOfWork, make_engine
from shared.errors import install_error_handlers
from shared.logs import configure_logging
from shared.messaging.consumer import EventConsumer
from shared.messaging.nats import NatsLink
from shared.messaging.outbox import OutboxRelay
from shared.settings import ServiceSettings

__all__ = [
    "AdminDep",
    "BearerDep",
    "Runtime",
    "RuntimeDep",
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

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, after_commit=self.relay.wake)


def build_runtime(settings: ServiceSettings) -> Runtime:
    engine = make_engine(settings.effective_database_url)
    session_factory = sessionmaker(engine, expire_on_commit=False)
    link = NatsLink(
        settings.nats_url,
        f"sifang-{settings.service_name}",
        stream_replicas=settings.stream_replicas,
    )
    relay = OutboxRelay(session_factory, link)
    return Runtime(settings, engine, session_factory, link, relay)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_uow(runtime: RuntimeDep) -> Iterator[UnitOfWork]:
    with runtime.unit_of_work() as uow:
        yield uow


UowDep = Annotated[UnitOfWork, Depends(get_uow)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))]


def require_admin(credentials: BearerDep, runtime: RuntimeDep) -> None:
    check_admin(credentials, runtime.settings.admin_token)


AdminDep = Depends(require_admin)


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


def create_service_app(
    runtime: Runtime,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    workers: Sequence[Worker] = (),
    consumers: Sequence[EventConsumer] = (),
) -> FastAPI:
    """A FastAPI app that relays its outbox and runs ``workers`` while it is up; ``/healthz``
    reports the state of ``consumers`` (a consumer paused for its database is degraded)."""
    configure_logging()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(runtime.relay.run(), name="outbox-relay")]
        tasks += [asyncio.create_task(worker(runtime)) for worker in workers]
        try:
            yield
        finally:
            await _stop(tasks)
            await runtime.link.close()
            runtime.engine.dispose()

    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    app.state.runtime = runtime
    install_error_handlers(app)

    @app.get("/healthz", tags=["operations"], summary="Liveness and dependencies")
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
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    for router in routers:
        app.include_router(router)
    return app
