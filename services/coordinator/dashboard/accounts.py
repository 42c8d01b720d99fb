"""Coordinator accounts: argon2 password hashes, created by operators (``sifang coordinators add``);
sign-in throttling per account and per client address (shared/web/accounts.py), with the
attempts kept in the database (so it survives restarts and holds across several coordinator
processes)."""

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from services.coordinator.access.models import CoordinatorAccount
from services.coordinator.dashboard.models import LoginAttempt
from services.coordinator.dashboard.sessions import revoke_all
from shared.db import utcnow
from shared.errors import Conflict, InvalidInput, NotFound
from shared.web import accounts as web_accounts
from shared.web.accounts import SignIn, ThrottlePolicy, check_password, hash_password, password_matches

__all__ = [
    "SignIn",
    "ThrottlePolicy",
    "attempt_sign_in",
    "authenticate",
    "change_password",
    "create_account",
    "locked_until",
]

log = logging.getLogger(__name__)


def create_account(session: Session, username: str, display_name: str, password: str) -> CoordinatorAccount:
    if not username.isidentifier() or len(username) > 64:
        raise InvalidInput("a username is letters, digits and underscores", field="username")
    check_password(password)
    if session.get(CoordinatorAccount, username) is not None:
        raise Conflict(f"there is already a coordinator {username!r}", field="username")
    account = CoordinatorAccount(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        active=True,
        created_at=utcnow(),
    )
    session.add(account)
    return account


def change_password(session: Session, username: str, new_password: str) -> int:
    """Set a new password and revoke every dashboard session of the account (in ``session``'s
    transaction; the caller commits). Returns how many sessions were revoked."""
    account = session.get(CoordinatorAccount, username)
    if account is None:
        raise NotFound(f"there is no coordinator {username!r}", field="username")
    account.password_hash = hash_password(new_password)
    revoked = revoke_all(session, username)
    log.info("password of coordinator %s changed; %d dashboard sessions revoked", username, revoked)
    return revoked


def authenticate(session: Session, username: str, password: str) -> CoordinatorAccount | None:
    account = session.get(CoordinatorAccount, username)
    if account is None or not account.active:
        password_matches(None, password)  # take the same time either way
        return None
    return account if password_matches(account.password_hash, password) else None


def attempt_sign_in(
    session: Session, username: str, password: str, address: str, policy: ThrottlePolicy
) -> SignIn[CoordinatorAccount]:
    """Check a sign-in against the throttle, then the password (shared/web/accounts.py)."""
    return web_accounts.attempt_sign_in(
        session, LoginAttempt, username, address, policy, lambda: authenticate(session, username, password)
    )


def locked_until(
    session: Session, username: str, address: str, policy: ThrottlePolicy, now: datetime | None = None
) -> datetime | None:
    """When dashboard sign-ins to ``username`` from ``address`` may be tried again."""
    return web_accounts.locked_until(session, LoginAttempt, username, address, policy, now)
