"""Passwords (argon2) and sign-in throttling for the server-rendered sites' accounts.

Throttling counts failed sign-ins per account and per client address, with the attempts kept in
the database (a site's table with :class:`LoginAttemptColumns`), so it survives restarts and
holds across several processes.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.db import utcnow
from shared.errors import InvalidInput

__all__ = [
    "LoginAttemptColumns",
    "SignIn",
    "ThrottlePolicy",
    "attempt_sign_in",
    "check_password",
    "hash_password",
    "locked_until",
    "password_matches",
]

log = logging.getLogger(__name__)
_hasher = PasswordHasher()
KEEP_ATTEMPTS = timedelta(days=1)
MIN_PASSWORD = 10
A = TypeVar("A")


class LoginAttemptColumns:
    """One sign-in attempt, kept for throttling (per account and per address)."""

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    client_address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(index=True)
    succeeded: Mapped[bool]


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password has at least {MIN_PASSWORD} characters", field="password")


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` is the one hashed; with no hash (no such account) the same work is
    done, so a wrong username takes as long as a wrong password."""
    if password_hash is None:
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


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
class SignIn(Generic[A]):
    account: A | None
    locked_until: datetime | None = None


def _until(times: list[datetime], limit: int, window: timedelta) -> datetime | None:
    return times[limit - 1] + window if len(times) >= limit else None


def locked_until(
    session: Session,
    attempts: type[LoginAttemptColumns],
    username: str,
    address: str,
    policy: ThrottlePolicy,
    now: datetime | None = None,
    exclude: int | None = None,
) -> datetime | None:
    """When sign-ins to ``username`` from ``address`` may be tried again; None if they may now."""
    model: Any = attempts
    now = now or utcnow()
    since = now - policy.window
    failures = select(model.at).where(
        model.succeeded.is_(False), model.at > since, model.id != (exclude or -1)
    )
    last_success = session.scalar(
        select(func.max(model.at)).where(model.username == username, model.succeeded.is_(True))
    )
    by_account = failures.where(model.username == username)
    if last_success is not None:
        by_account = by_account.where(model.at > last_success)
    account_times = list(session.scalars(by_account.order_by(model.at.desc()).limit(policy.max_failures)))
    address_times = list(
        session.scalars(
            failures.where(model.client_address == address)
            .order_by(model.at.desc())
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
    session: Session,
    attempts: type[LoginAttemptColumns],
    username: str,
    address: str,
    policy: ThrottlePolicy,
    authenticate: Callable[[], A | None],
) -> SignIn[A]:
    """Check a sign-in against the throttle, then ``authenticate`` it. The attempt is committed
    as a failure before the check, so concurrent attempts (from any process) count each other; a
    success is marked in ``session``'s transaction, which the caller commits with the session."""
    model: Any = attempts
    now = utcnow()
    username = username[:64]
    session.execute(delete(model).where(model.at < now - max(KEEP_ATTEMPTS, policy.window)))
    attempt = model(username=username, client_address=address, at=now, succeeded=False)
    session.add(attempt)
    session.commit()
    until = locked_until(session, attempts, username, address, policy, now, exclude=attempt.id)
    if until is not None:
        session.delete(attempt)  # a refused attempt is not counted: the lock ends on time
        session.commit()
        log.warning("sign-in to %r from %s refused until %s (throttled)", username, address, until)
        return SignIn(None, until)
    account = authenticate()
    if account is None:
        log.warning("sign-in to %r from %s failed", username, address)
        return SignIn(None)
    attempt.succeeded = True
    return SignIn(account)
