"""Coordinator accounts: argon2 password hashes, created by operators (``sifang coordinators add``);
sign-in throttling per account and per client address, with the attempts kept in the database
(so it survives restarts and holds across several coordinator processes)."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from services.coordinator.access.models import CoordinatorAccount
from services.coordinator.dashboard.models import LoginAttempt
from services.coordinator.dashboard.sessions import revoke_all
from shared.db import utcnow
from shared.errors import Conflict, InvalidInput, NotFound

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
_hasher = PasswordHasher()
KEEP_ATTEMPTS = timedelta(days=1)


def _check_password(password: str) -> None:
    if len(password) < 10:
        raise InvalidInput("a password has at least 10 characters", field="password")


def create_account(session: Session, username: str, display_name: str, password: str) -> CoordinatorAccount:
    if not username.isidentifier() or len(username) > 64:
        raise InvalidInput("a username is letters, digits and underscores", field="username")
    _check_password(password)
    if session.get(CoordinatorAccount, username) is not None:
        raise Conflict(f"there is already a coordinator {username!r}", field="username")
    account = CoordinatorAccount(
        username=username,
        display_name=display_name or username,
        password_hash=_hasher.hash(password),
        active=True,
        created_at=utcnow(),
    )
    session.add(account)
    return account


def change_password(session: Session, username: str, new_password: str) -> int:
    """Set a new password and revoke every dashboard session of the account (in ``session``'s
    transaction; the caller commits). Returns how many sessions were revoked."""
    _check_password(new_password)
    account = session.get(CoordinatorAccount, username)
    if account is None:
        raise NotFound(f"there is no coordinator {username!r}", field="username")
    account.password_hash = _hasher.hash(new_password)
    revoked = revoke_all(session, username)
    log.info("password of coordinator %s changed; %d dashboard sessions revoked", username, revoked)
    return revoked


def authenticate(session: Session, username: str, password: str) -> CoordinatorAccount | None:
    account = session.get(CoordinatorAccount, username)
    if account is None or not account.active:
        _hasher.hash(password)  # take the same time either way
        return None
    try:
        _hasher.verify(account.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return account


@dataclass(frozen=True)
class ThrottlePolicy:
    """After ``max_failures`` failed sign-ins to one account (since its last success) or
    ``max_failures_per_address`` from one client address within ``window``, further attempts are
    refused — even with the right password — until the oldest of those failures leaves the window.
    Refused attempts are not counted, so a locked account opens again on time."""

    max_failures: int = 5
    max_failures_per_address: int = 20
    window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class SignIn:
    account: CoordinatorAccount | None
    locked_until: datetime | None = None


def _until(times: list[datetime], limit: int, window: timedelta) -> datetime | None:
    return times[limit - 1] + window if len(times) >= limit else None


def locked_until(
    session: Session,
    username: str,
    address: str,
    policy: ThrottlePolicy,
    now: datetime | None = None,
    exclude: int | None = None,
) -> datetime | None:
    """When sign-ins to ``username`` from ``address`` may be tried again; None if they may now."""
    now = now or utcnow()
    since = now - policy.window
    failures = select(LoginAttempt.at).where(
        LoginAttempt.succeeded.is_(False), LoginAttempt.at > since, LoginAttempt.id != (exclude or -1)
    )
    last_success = session.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.username == username, LoginAttempt.succeeded.is_(True)
        )
    )
    by_account = failures.where(LoginAttempt.username == username)
    if last_success is not None:
        by_account = by_account.where(LoginAttempt.at > last_success)
    account_times = list(
        session.scalars(by_account.order_by(LoginAttempt.at.desc()).limit(policy.max_failures))
    )
    address_times = list(
        session.scalars(
            failures.where(LoginAttempt.client_address == address)
            .order_by(LoginAttempt.at.desc())
            .limit(policy.max_failures_per_address)
        )
    )
    until = [
        u
        for u in (
            _until(account_times, policy.max_failures, policy.window),
            _until(address_times, policy.max_failures_per_address, policy.window),
        )
        if u is not None and u > now
    ]
    return max(until) if until else None


def attempt_sign_in(
    session: Session, username: str, password: str, address: str, policy: ThrottlePolicy
) -> SignIn:
    """Check a sign-in against the throttle, then the password. The attempt is committed as a
    failure before the check, so concurrent attempts (from any process) count each other; a
    success is marked in ``session``'s transaction, which the caller commits with the session."""
    now = utcnow()
    username = username[:64]
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - max(KEEP_ATTEMPTS, policy.window)))
    attempt = LoginAttempt(username=username, client_address=address, at=now, succeeded=False)
    session.add(attempt)
    session.commit()
    until = locked_until(session, username, address, policy, now, exclude=attempt.id)
    if until is not None:
        session.delete(attempt)  # a refused attempt is not counted: the lock ends on time
        session.commit()
        log.warning("dashboard sign-in to %r from %s refused until %s (throttled)", username, address, until)
        return SignIn(None, until)
    account = authenticate(session, username, password)
    if account is None:
        log.warning("dashboard sign-in to %r from %s failed", username, address)
        return SignIn(None)
    attempt.succeeded = True
    return SignIn(account)
