"""The dashboard's server-side sessions (shared/web/sessions.py): table ``dashboard_sessions``,
cookie ``sifang_dashboard`` for the path ``/dashboard``."""

from functools import partial

from services.coordinator.dashboard.models import DashboardSession
from shared.web.sessions import (
    CSP,
    SessionPolicy,
    SessionStore,
    WebSessions,
    client_address,
    current_handle,
    signed_in_user,
    until_revoked,
)

__all__ = [
    "COOKIE",
    "CSP",
    "STORE",
    "DashboardSessions",
    "SessionPolicy",
    "client_address",
    "current_handle",
    "revoke_all",
    "sign_in",
    "sign_out",
    "signed_in_user",
    "still_valid",
    "until_revoked",
]

COOKIE = "sifang_dashboard"
STORE = SessionStore(DashboardSession, COOKIE, "/dashboard")
sign_in = STORE.sign_in
sign_out = STORE.sign_out
revoke_all = STORE.revoke_all
still_valid = STORE.still_valid
DashboardSessions = partial(WebSessions, store=STORE)
