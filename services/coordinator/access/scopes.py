"""The scopes an API token may hold, and who a request comes from (:class:`Principal`).

Free of FastAPI and SQLAlchemy, so that what decides by who asks (a webhook subscription
belongs to the token that created it) takes a :class:`Principal` without knowing HTTP;
``access.dependencies`` resolves it from a request's credential.
"""

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["ADMIN", "IMPLIED", "SCOPES", "Principal", "Scope"]

Scope = Literal["read:book", "read:events", "manage:webhooks", "read:meetings", "run:meetings", "admin"]
SCOPES: dict[str, str] = {
    "read:book": "the registry of organisations, needs, offers and matches",
    "read:events": "the event log (GET /events) and the server-sent event stream (GET /stream)",
    "manage:webhooks": "webhook subscriptions this token created: create, list, stop, enable, "
    "delivery log, replay",
    "read:meetings": "series, meetings, agendas, quorum, records, minutes, action items, calendars, "
    "cross-sector projects",
    "run:meetings": "what read:meetings allows, and acting as the token's coordinator: series, "
    "scheduling, agendas, attendance, decisions, closing and amending records",
    "admin": "every scope, and API tokens, dead letters, every webhook subscription",
}
assert set(SCOPES) == set(get_args(Scope))
IMPLIED: dict[str, frozenset[str]] = {"run:meetings": frozenset({"read:meetings"})}


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
