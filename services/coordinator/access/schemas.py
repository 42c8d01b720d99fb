"""The commands on API tokens (``TokenCreate``, ``TokenRevoke``) and what is read back."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from services.coordinator.access.scopes import Scope

__all__ = ["MAX_EXPIRY_DAYS", "TokenCreate", "TokenIssued", "TokenRead", "TokenRevoke"]

MAX_EXPIRY_DAYS = 3650


class TokenCreate(BaseModel):
    # Issue a token: the body of POST /tokens (no docstring: it would change the OpenAPI schema).
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100, description="who or what holds it")]
    scopes: Annotated[list[Scope], Field(min_length=1)]
    expires_days: Annotated[int, Field(ge=1, le=MAX_EXPIRY_DAYS)] = 90
    coordinator: Annotated[
        str | None, Field(max_length=64, description="the coordinator account it acts for")
    ] = None


class TokenRevoke(BaseModel):
    """Revoke a token: every request with it is refused from now on."""

    model_config = ConfigDict(frozen=True)

    token_id: str


class TokenRead(BaseModel):
    """A token as listed: never its secret, nor its digest."""

    id: str
    name: str
    scopes: list[str]
    coordinator: str | None
    state: str  # active, expired or revoked
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenIssued(TokenRead):
    """A token just issued, with its secret: shown this once."""

    token: str
