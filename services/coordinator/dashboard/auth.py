"""Signing coordinators in and out of the dashboard: the password and the throttle
(``accounts.py``), then a server-side session (``sessions.py``), each in a unit of work that
this module commits."""

from starlette.requests import HTTPConnection

from services.coordinator.access.models import CoordinatorAccount
from services.coordinator.dashboard import sessions
from services.coordinator.dashboard.accounts import SignIn, ThrottlePolicy, attempt_sign_in
from shared.db import UnitOfWork

__all__ = ["sign_in", "sign_out", "signed_in_account"]


def signed_in_account(uow: UnitOfWork, connection: HTTPConnection) -> CoordinatorAccount | None:
    """The active account the connection's session is signed in as, if any."""
    username = sessions.signed_in_user(connection)
    account = uow.session.get(CoordinatorAccount, username) if username else None
    return account if account is not None and account.active else None


def sign_in(
    uow: UnitOfWork,
    connection: HTTPConnection,
    username: str,
    password: str,
    throttle: ThrottlePolicy,
    policy: sessions.SessionPolicy,
) -> SignIn[CoordinatorAccount]:
    """Check the password under the throttle; on success start a new session (the old one is
    revoked). A failed attempt is kept, so the throttle counts it."""
    result = attempt_sign_in(uow.session, username, password, sessions.client_address(connection), throttle)
    if result.locked_until is not None:
        return result
    if result.account is not None:
        sessions.sign_in(uow.session, connection, result.account.username, policy)
    uow.commit()
    return result


def sign_out(uow: UnitOfWork, connection: HTTPConnection) -> None:
    """Revoke the connection's session: its cookie, wherever it was copied, signs nobody in."""
    sessions.sign_out(uow.session, connection)
    uow.commit()
