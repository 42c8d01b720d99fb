"""Builds a stakeholder service: the shared core plus the service's own routes and tables."""

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TypeVar
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.app import Runtime, UowDep, build_runtime, create_service_app
from shared.errors import NotFound
from shared.events.data import StakeholderKind
from shared.events.validation import CheckedEvent
from shared.messaging.consumer import Delivery, EventConsumer
from shared.settings import StakeholderSettings
from shared.stakeholder.diagnosis import diagnosis_router
from shared.stakeholder.disputes import apply_dispute_event, disputes_router
from shared.stakeholder.market import apply_market_event, market_router
from shared.stakeholder.matches import apply_match_event, matches_router
from shared.stakeholder.meetings import apply_meeting_event, meetings_router
from shared.stakeholder.models import OwnedEntity
from shared.stakeholder.portal import service as portal
from shared.stakeholder.portal.views import (
    PortalForm,
    SignInRequired,
    core_forms,
    portal_api_router,
    portal_router,
)
from shared.stakeholder.projects import apply_project_event, projects_router
from shared.stakeholder.views import GROUPED_WRITES, CurrentOrg, stakeholder_router
from shared.web.accounts import ThrottlePolicy
from shared.web.sessions import SessionPolicy, WebSessions

__all__ = ["create_stakeholder_app", "owned_entity_routes"]

E = TypeVar("E", bound=OwnedEntity)
R = TypeVar("R", bound=BaseModel)


def create_stakeholder_app(
    settings: StakeholderSettings,
    *,
    kind: StakeholderKind,
    title: str,
    description: str,
    routers: Sequence[APIRouter] = (),
    portal_forms: Sequence[PortalForm] = (),
) -> FastAPI:
    """The service's app: the shared core, ``routers`` of its own, and the portal, whose people
    create needs, offers and agenda items and ``portal_forms`` (the service's own records)."""
    runtime = build_runtime(settings)
    consumer = EventConsumer(
        name=f"{kind}-coordinator-events",
        filter_subjects=["sifang.coordinator.>"],
        session_factory=runtime.session_factory,
        handler=apply_coordinator_event,
    )

    async def follow_coordinator(rt: Runtime) -> None:
        await consumer.run(rt.link)

    policy = SessionPolicy(
        lifetime=timedelta(hours=settings.portal_session_hours),
        idle=timedelta(minutes=settings.portal_idle_minutes),
        production=settings.mode == "production",
    )
    throttle = ThrottlePolicy(max_failures=settings.portal_login_max_failures)
    app = create_service_app(
        runtime,
        title=title,
        description=description,
        routers=[
            stakeholder_router(kind),
            diagnosis_router(),
            matches_router(),
            meetings_router(),
            market_router,
            projects_router(),
            disputes_router(),
            portal_api_router(),
            *routers,
            portal_router([*core_forms(), *portal_forms], lambda _: policy, throttle),
        ],
        workers=[follow_coordinator],
        consumers=[consumer],
        limit_writes=True,
        grouped_writes=GROUPED_WRITES,
    )
    # The portal's server-side sessions (the cookie is only a random id) and its CSP.
    app.add_middleware(
        WebSessions, store=portal.STORE, session_factory=runtime.session_factory, policy=policy
    )

    @app.exception_handler(SignInRequired)
    async def _sign_in(_: Request, exc: SignInRequired) -> RedirectResponse:
        return RedirectResponse(f"/portal/sign-in?next={quote(exc.next_path)}", status_code=303)

    return app


def apply_coordinator_event(session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
    """Keep what the coordinator says about matches, meetings, actions, projects and disputes
    concerning our organisations, and its market signals."""
    apply_match_event(session, checked, delivery)
    apply_meeting_event(session, checked, delivery)
    apply_market_event(session, checked, delivery)
    apply_project_event(session, checked, delivery)
    apply_dispute_event(session, checked, delivery)


def owned_entity_routes(
    router: APIRouter,
    path: str,
    model: type[E],
    to_read: Callable[[E], R],
    read_schema: type[R],
    tag: str,
) -> None:
    """``GET path`` (the caller's records) and ``GET path/{id}`` for a service's own entity."""
    noun = tag.removesuffix("s")

    @router.get(
        path,
        response_model=list[read_schema],  # type: ignore[valid-type]
        tags=[tag],
        summary=f"The organisation's {tag}",
    )
    def list_(uow: UowDep, org: CurrentOrg) -> list[R]:
        query = select(model).where(model.organisation_id == org.id)
        return [to_read(row) for row in uow.session.scalars(query.order_by(model.created_at))]

    @router.get(
        path + "/{entity_id}",
        response_model=read_schema,
        tags=[tag],
        summary=f"One {noun} of the organisation",
    )
    def get(entity_id: str, uow: UowDep, org: CurrentOrg) -> R:
        row = uow.session.get(model, entity_id)
        if row is None or row.organisation_id != org.id:
            raise NotFound(f"no {noun} {entity_id!r} of this organisation", field="id")
        return to_read(row)
