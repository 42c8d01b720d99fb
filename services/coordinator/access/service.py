"""Scoped, expiring API tokens: issue, list, revoke, and verify a request's token.

Operators issue tokens (``sifang tokens issue``, or ``POST /tokens`` with the ``admin``
scope). A token is ``sft_`` and 256 random bits, shown once; only its SHA-256 digest is kept
(as for organisations' API keys, a slow hash adds nothing to 256 random bits).

A token may act for a coordinator account: what it records (meetings, agendas, decisions...)
then carries the account's name, verified, instead of the ``X-Coordinator`` header, which only
the admin token may still send. Tokens with ``run:meetings`` must be tied to an account.

Tokens are local configuration of this coordinator, not state rebuilt from the event stream:
nothing here is published or replayed, so the handlers (:func:`issue`, :func:`revoke`) commit
their unit of work themselves instead of issuing an instruction. The functions over a bare
session (:func:`issue_token`, :func:`list_tokens`, :func:`revoke_token`) leave the commit to
their caller (the handlers here, ``sifang tokens``).
"""

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.coordinator.access.models import ApiToken, CoordinatorAccount
from services.coordinator.access.schemas import (
    MAX_EXPIRY_DAYS,
    TokenCreate,
    TokenIssued,
    TokenRead,
    TokenRevoke,
)
from services.coordinator.access.scopes import SCOPES, Principal
from shared.db import UnitOfWork, utcnow
from shared.errors import InvalidInput, NotFound, Unauthorized

__all__ = [
    "TOKEN_PREFIX",
    "authenticate",
    "issue",
    "issue_token",
    "list_tokens",
    "revoke",
    "revoke_token",
    "token_state",
    "tokens",
]

TOKEN_PREFIX = "sft_"
LAST_USED_RESOLUTION = timedelta(minutes=1)  # how often last_used_at is written at most


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


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


def _read(token: ApiToken) -> TokenRead:
    return TokenRead(
        id=token.id,
        name=token.name,
        scopes=token.scopes,
        coordinator=token.coordinator,
        state=token_state(token),
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
    )


def issue(command: TokenCreate, uow: UnitOfWork) -> TokenIssued:
    """Issue a token and commit; the secret is in what it returns, and nowhere else."""
    token, secret = issue_token(
        uow.session,
        command.name,
        list(command.scopes),
        expires_days=command.expires_days,
        coordinator=command.coordinator,
    )
    uow.commit()
    return TokenIssued(**_read(token).model_dump(), token=secret)


def revoke(command: TokenRevoke, uow: UnitOfWork) -> TokenRead:
    """Revoke a token (again: no change) and commit."""
    token = revoke_token(uow.session, command.token_id)
    uow.commit()
    return _read(token)


def tokens(session: Session) -> list[TokenRead]:
    """Every token, oldest first (never their secrets)."""
    return [_read(token) for token in list_tokens(session)]


def authenticate(session: Session, secret: str) -> Principal:
    """The principal of a live token, noting when it was last used (committed at once, on a
    session of its own: whatever the request then does must not undo it); 401 for any other."""
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
