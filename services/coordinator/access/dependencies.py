"""Who may do what over the coordinator's HTTP API, as FastAPI dependencies.

Every route declares the scope it needs (:class:`RequireScope`, or ``require(scope)`` in a
route's ``dependencies``; listed in the OpenAPI document as the operation's security
requirement). A request without a credential gets 401; one whose token lacks the scope gets
403 ``insufficient_scope`` naming the scope. The admin token (setting ``admin_token``) holds
every scope: it is for bootstrap. API tokens are verified by ``access.service.authenticate``.
"""

from typing import Annotated, Any

from fastapi import Depends

from services.coordinator.access.scopes import ADMIN, Principal, Scope
from services.coordinator.access.service import TOKEN_PREFIX, authenticate
from shared.app import BearerDep, RuntimeDep, Scoped
from shared.auth import is_admin_token
from shared.errors import InsufficientScope, Unauthorized

__all__ = ["PrincipalDep", "RequireScope", "principal", "require"]


def principal(credentials: BearerDep, runtime: RuntimeDep) -> Principal:
    """Who sends the request: the admin token or a live API token; 401 for anything else."""
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
