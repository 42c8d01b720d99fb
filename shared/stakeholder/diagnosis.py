"""``GET /needs/{id}/diagnosis`` and ``GET /offers/{id}/diagnosis`` at a party's own service.

Why a need or offer of the calling organisation is (not) matched: the nearest candidates and,
for each, the filter it failed and why, in Chinese or English. The coordinator computes it
(its ``GET /{needs|offers}/{id}/diagnosis``, scope ``read:book``); this service checks that the
listing is the caller's own and asks the coordinator with its own token (settings
``SIFANG_COORDINATOR_URL``, ``<SERVICE>_COORDINATOR_TOKEN``).

What the caller gets when the coordinator does not answer it:

- the service has no coordinator URL or token configured: 503 saying so;
- the coordinator cannot be reached or does not answer in time: 503 with ``Retry-After``;
- the coordinator has not received the listing yet (its 404): 404 saying so;
- the coordinator is overloaded or failing (5xx): 503 with ``Retry-After``;
- it refuses this service's token, or answers outside the contract: 502.
"""

import logging
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Depends, Query
from pydantic import ValidationError

from shared.app import RuntimeDep, UowDep
from shared.diagnosis import Diagnosis, DiagnosisCandidate, DiagnosisMessage
from shared.errors import BadGateway, NotFound, Unavailable
from shared.reasons import Language
from shared.settings import StakeholderSettings
from shared.stakeholder import service
from shared.stakeholder.service import NEEDS, OFFERS, Side
from shared.stakeholder.views import CurrentOrg

__all__ = ["Diagnosis", "DiagnosisCandidate", "DiagnosisMessage", "diagnosis_router", "fetch_diagnosis"]

log = logging.getLogger(__name__)

RETRY_AFTER = 5  # seconds a caller should wait after the coordinator did not answer


async def fetch_diagnosis(
    settings: StakeholderSettings, side: Literal["need", "offer"], listing_id: str, lang: str
) -> Diagnosis:
    """The coordinator's diagnosis of one listing; raises what the caller should be told."""
    token = settings.coordinator_token.get_secret_value() if settings.coordinator_token else ""
    if not settings.coordinator_url or not token:
        prefix = settings.service_name.upper()
        raise Unavailable(
            "this service is not configured to ask the coordinator: "
            f"set SIFANG_COORDINATOR_URL and {prefix}_COORDINATOR_TOKEN (a token with the scope read:book)"
        )
    url = f"{settings.coordinator_url.rstrip('/')}/{side}s/{listing_id}/diagnosis"
    try:
        async with httpx.AsyncClient(timeout=settings.coordinator_timeout) as client:
            response = await client.get(
                url, params={"lang": lang}, headers={"Authorization": f"Bearer {token}"}
            )
    except httpx.HTTPError as exc:
        log.warning("coordinator unreachable for the diagnosis of %s %s: %r", side, listing_id, exc)
        raise Unavailable(
            "the coordinator cannot be reached or did not answer in time; try again shortly",
            retry_after=RETRY_AFTER,
        ) from exc
    if response.status_code == 404:
        raise NotFound(
            f"the coordinator has not received this {side} yet: it is on its way; try again shortly",
            field="id",
        )
    if response.status_code >= 500:
        log.warning(
            "coordinator answered %s to the diagnosis of %s %s", response.status_code, side, listing_id
        )
        raise Unavailable(
            f"the coordinator cannot answer now ({response.status_code}); try again shortly",
            retry_after=_retry_after(response),
        )
    if response.status_code != 200:
        log.error("coordinator answered %s to the diagnosis of %s %s", response.status_code, side, listing_id)
        raise BadGateway(f"the coordinator refused this service's request ({response.status_code})")
    try:
        return Diagnosis.model_validate_json(response.content)
    except ValidationError as exc:
        log.error("coordinator's diagnosis of %s %s breaks the contract: %s", side, listing_id, exc)
        raise BadGateway("the coordinator's answer does not follow the diagnosis contract") from exc


def _retry_after(response: httpx.Response) -> int:
    value = response.headers.get("Retry-After", "")
    return int(value) if value.isdigit() else RETRY_AFTER


def _settings(runtime: RuntimeDep) -> StakeholderSettings:
    if not isinstance(runtime.settings, StakeholderSettings):
        raise TypeError("the diagnosis route belongs to a stakeholder service")
    return runtime.settings


def _own(side: Side[Any]) -> Any:
    """A dependency: the path's listing id, once it is known to be the caller's own."""

    def own(listing_id: str, uow: UowDep, org: CurrentOrg) -> str:
        service.get_listing(uow.session, org, side, listing_id)  # 404 unless the caller's
        uow.session.rollback()  # give the connection back before waiting on the coordinator
        return listing_id

    return Depends(own)


def diagnosis_router() -> APIRouter:
    router = APIRouter()
    for side in (NEEDS, OFFERS):
        _diagnosis_route(router, side)
    return router


def _diagnosis_route(router: APIRouter, side: Side[Any]) -> None:
    @router.get(
        f"/{side.plural}/{{listing_id}}/diagnosis",
        response_model=Diagnosis,
        tags=[side.plural],
        summary=f"Why this {side.name} is (not) matched: the nearest candidates and what each failed",
        responses={
            404: {"description": f"not this organisation's {side.name}, or not yet at the coordinator"},
            502: {"description": "the coordinator refused the request or broke the contract"},
            503: {"description": "the coordinator is not configured, unreachable or busy (Retry-After)"},
        },
    )
    async def diagnosis(
        listing_id: Annotated[str, _own(side)],
        settings: Annotated[StakeholderSettings, Depends(_settings)],
        lang: Annotated[Language, Query(description="language of the texts")] = "zh",
    ) -> Diagnosis:
        return await fetch_diagnosis(settings, side.name, listing_id, lang)
