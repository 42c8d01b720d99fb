"""Who may do what over the coordinator's HTTP API: scoped, expiring API tokens.

Operators issue tokens (``sifang tokens issue``, or ``POST /tokens`` with the ``admin``
scope). A token is ``sft_`` and 256 random bits, shown once; only its SHA-256 digest is kept
(as for organisations' API keys, a slow hash adds nothing to 256 random bits). Every route
declares the scope it needs (:class:`RequireScope`, listed in the OpenAPI document as the
operation's security requirement); a token without it gets 403 ``insufficient_scope`` naming
the scope. The admin token (setting ``admin_token``) holds every scope: it is for bootstrap.

A token may act for a coordinator account: what it records (meetings, agendas, decisions...)
then carries the account's name, verified, instead of the ``X-Coordinator`` header, which only
the admin token may still send. Tokens with ``run:meetings`` must be tied to an account.
"""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.coordinator.access.models import ApiToken
from services.coordinator.dashboard.models import CoordinatorAccount
from shared.app import BearerDep, RuntimeDep, Scoped, UowDep
from shared.auth import is_admin_token
from shared.db import utcnow
from shared.errors import InsufficientScope, InvalidInput, NotFound, Unauthorized

__all__ = [
    "SCOPES",
    "TOKEN_PREFIX",
    "Principal",
    "PrincipalDep",
    "RequireScope",
    "Scope",
    "issue_token",
    "list_tokens",
    "require",
    "revoke_token",
    "router",
    "token_read",
]

Scope = Literal["read:book", "read:events", "manage:webhooks", "read:meetings", "run:meetings", "admin"]
SCOPES: dict[str, str] = {
    "read:book": "the registry of organisations, needs, offers and matches",
    "read:events": "the event log (GET /events) and the server-sent event stream (GET /stream)",
    "manage:webhooks": "webhook subscriptions this token created: create, list, stop, enable, "
    "delivery log, replay",
    "read:meetings": "series, meetings, agendas, quorum, records, minutes, action items, calendars",
    "run:meetings": "what read:meetings allows, and acting as the token's coordinator: series, "
    "scheduling, agendas, attendance, decisions, closing and amending records",
    "admin": "every scope, and API tokens, dead letters, every webhook subscription",
}
assert set(SCOPES) == set(get_args(Scope))
IMPLIED: dict[str, frozenset[str]] = {"run:meetings": frozenset({"read:meetings"})}
TOKEN_PREFIX = "sft_"
MAX_EXPIRY_DAYS = 3650
LAST_USED_RESOLUTION = timedelta(minutes=1)  # how often last_used_at is written at most


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: the admin token (``token_id`` None) or an API token."""

    name: str
    scopes: frozenset[str]
    token_id: str | None = None
    coordinator: str | None = None  # the account's username
    display_name: str | None = None  # the account's name, recorded with what it does

    @property
    def is_admin(self) -> bool:
        return self.token_id is None or "admin" in self.scopes

    def allows(self, scope: str) -> bool:
        return self.is_admin or any(scope == s or scope in IMPLIED.get(s, ()) for s in self.scopes)


ADMIN = Principal(name="admin token", scopes=frozenset(SCOPES))


def issue_token(
    session: Session,
    name: str,
    scopes: list[str],
    *,
    expires_days: int = 90,
    coordinator: str | None = None,
) -> tuple[ApiToken, str]:
    """A new token and its secret (shown once)."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput("a token has a name of 1 to 100 characters", field="name")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise InvalidInput(f"unknown scopes {unknown}; the scopes are {sorted(SCOPES)}", field="scopes")
    if not scopes:
        raise InvalidInput(f"a token needs at least one scope of {sorted(SCOPES)}", field="scopes")
    if not 1 <= expires_days <= MAX_EXPIRY_DAYS:
        raise InvalidInput(f"a token expires in 1 to {MAX_EXPIRY_DAYS} days", field="expires_days")
    if coordinator is not None:
        account = session.get(CoordinatorAccount, coordinator)
        if account is None or not account.active:
            raise InvalidInput(f"no active coordinator account {coordinator!r}", field="coordinator")
    elif "run:meetings" in scopes:
        raise InvalidInput(
            "run:meetings acts as a coordinator: tie the token to their account (coordinator)",
            field="coordinator",
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(
        id=str(uuid.uuid4()),
        name=name,
        secret_hash=_digest(secret),
        scopes=sorted(set(scopes)),
        coordinator=coordinator,
        created_at=now,
        expires_at=now + timedelta(days=expires_days),
        revoked_at=None,
        last_used_at=None,
    )
    session.add(token)
    session.flush()
    return token, secret


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)))


def revoke_token(session: Session, token_id: str) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"no API token {token_id!r}", field="token_id")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token


def token_state(token: ApiToken, now: datetime | None = None) -> str:
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.expires_at <= (now or utcnow()) else "active"


def token_read(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "scopes": token.scopes,
        "coordinator": token.coordinator,
        "state": token_state(token),
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "last_used_at": token.last_used_at,
    }


def authenticate(session: Session, secret: str) -> Principal:
    """The principal of a live token, noting when it was last used; 401 for any other."""
    token = session.scalar(select(ApiToken).where(ApiToken.secret_hash == _digest(secret)))
    if token is None:
        raise Unauthorized("unknown token")
    now = utcnow()
    state = token_state(token, now)
    if state != "active":
        raise Unauthorized(f"this token is {state}")
    display_name = None
    if token.coordinator is not None:
        account = session.get(CoordinatorAccount, token.coordinator)
        if account is None or not account.active:
            raise Unauthorized("the coordinator account of this token is disabled")
        display_name = account.display_name
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
        session.commit()
    return Principal(
        name=token.name,
        scopes=frozenset(token.scopes),
        token_id=token.id,
        coordinator=token.coordinator,
        display_name=display_name,
    )


def principal(credentials: BearerDep, runtime: RuntimeDep) -> Principal:
    if credentials is None:
        raise Unauthorized("send a token: Authorization: Bearer <token>")
    if is_admin_token(credentials.credentials, runtime.settings.admin_token):
        return ADMIN
    if not credentials.credentials.startswith(TOKEN_PREFIX):
        raise Unauthorized("unknown token (API tokens start with sft_)")
    with runtime.session_factory() as session:
        return authenticate(session, credentials.credentials)


PrincipalDep = Annotated[Principal, Depends(principal)]


class RequireScope(Scoped):
    """Admits a request whose credential holds ``scope``; returns who it is."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def __call__(self, who: PrincipalDep) -> Principal:
        if not who.allows(self.scope):
            held = ", ".join(sorted(who.scopes)) or "none"
            raise InsufficientScope(
                self.scope, f"this needs a token with the scope {self.scope!r} (this one has: {held})"
            )
        return who


def require(scope: Scope) -> Any:
    """``dependencies=[require("read:book")]``."""
    return Depends(RequireScope(scope))


router = APIRouter(tags=["tokens"], dependencies=[require("admin")])


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100, description="who or what holds it")]
    scopes: Annotated[list[Scope], Field(min_length=1)]
    expires_days: Annotated[int, Field(ge=1, le=MAX_EXPIRY_DAYS)] = 90
    coordinator: Annotated[
        str | None, Field(max_length=64, description="the coordinator account it acts for")
    ] = None


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    summary="Issue an API token; the secret (`token`) is shown once",
)
def issue(body: TokenCreate, uow: UowDep) -> dict[str, Any]:
    token, secret = issue_token(
        uow.session,
        body.name,
        list(body.scopes),
        expires_days=body.expires_days,
        coordinator=body.coordinator,
    )
    uow.commit()
    return token_read(token) | {"token": secret}


@router.get("/tokens", summary="API tokens (never their secrets)")
def tokens(uow: UowDep) -> list[dict[str, Any]]:
    return [token_read(t) for t in list_tokens(uow.session)]


@router.get("/scopes", summary="The scopes a token may hold, and what each allows")
def scopes() -> dict[str, str]:
    return SCOPES


@router.delete("/tokens/{token_id}", summary="Revoke an API token: it is refused from now on")
def revoke(token_id: str, uow: UowDep) -> dict[str, Any]:
    token = revoke_token(uow.session, token_id)
    uow.commit()
    return token_read(token)
