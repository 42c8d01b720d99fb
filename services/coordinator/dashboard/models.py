"""The dashboard's sessions and sign-in attempts."""

from shared.db import Base
from shared.web.accounts import LoginAttemptColumns
from shared.web.sessions import SessionColumns

__all__ = ["DashboardSession", "LoginAttempt"]


class DashboardSession(SessionColumns, Base):
    """A signed-in (or anonymous, pre-sign-in) dashboard session (see shared/web/sessions.py)."""

    __tablename__ = "dashboard_sessions"


class LoginAttempt(LoginAttemptColumns, Base):
    """One sign-in attempt at the dashboard, kept for throttling (per account and per address)."""

    __tablename__ = "dashboard_login_attempts"
