"""``/tokens`` and ``/scopes``: API tokens, managed over HTTP (scope ``admin``)."""

from fastapi import APIRouter, status

from services.coordinator.access import service
from services.coordinator.access.dependencies import require
from services.coordinator.access.schemas import TokenCreate, TokenIssued, TokenRead, TokenRevoke
from services.coordinator.access.scopes import SCOPES
from shared.app import UowDep

__all__ = ["router"]

router = APIRouter(tags=["tokens"], dependencies=[require("admin")])


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    summary="Issue an API token; the secret (`token`) is shown once",
)
def issue(body: TokenCreate, uow: UowDep) -> TokenIssued:
    return service.issue(body, uow)


@router.get("/tokens", summary="API tokens (never their secrets)")
def tokens(uow: UowDep) -> list[TokenRead]:
    return service.tokens(uow.session)


@router.get("/scopes", summary="The scopes a token may hold, and what each allows")
def scopes() -> dict[str, str]:
    return SCOPES


@router.delete("/tokens/{token_id}", summary="Revoke an API token: it is refused from now on")
def revoke(token_id: str, uow: UowDep) -> TokenRead:
    return service.revoke(TokenRevoke(token_id=token_id), uow)
