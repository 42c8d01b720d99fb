"""Coordinator accounts: argon2 password hashes, created by operators (``sifang coordinators add``)."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from services.coordinator.models import CoordinatorAccount
from shared.db import utcnow
from shared.errors import Conflict, InvalidInput

__all__ = ["authenticate", "create_account"]

_hasher = PasswordHasher()


def create_account(session: Session, username: str, display_name: str, password: str) -> CoordinatorAccount:
    if not username.isidentifier() or len(username) > 64:
        raise InvalidInput("a username is letters, digits and underscores", field="username")
    if len(password) < 10:
        raise InvalidInput("a password has at least 10 characters", field="password")
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
