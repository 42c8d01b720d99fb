"""API keys for organisations and the admin token for operators.

An organisation's key is shown once, when it is registered; only its SHA-256 digest is
stored (the key is 256 random bits, so a slow hash adds nothing). Requests carry it as
``Authorization: Bearer <key>``.
"""

import hashlib
import hmac
import secrets

from fastapi.security import HTTPAuthorizationCredentials

from shared.errors import Forbidden, Unauthorized

__all__ = ["check_admin", "hash_api_key", "is_admin_token", "new_api_key"]

KEY_PREFIX = "sfk_"


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def is_admin_token(presented: str, admin_token: str | None) -> bool:
    """Whether ``presented`` is the configured admin token (in constant time)."""
    return admin_token is not None and hmac.compare_digest(presented.encode(), admin_token.encode())


def check_admin(credentials: HTTPAuthorizationCredentials | None, admin_token: str | None) -> None:
    """Raise unless the request carries the admin token."""
    if credentials is None:
        raise Unauthorized("this needs the admin token: Authorization: Bearer <token>")
    if admin_token is None:
        raise Forbidden("no admin token is configured (set SIFANG_ADMIN_TOKEN)")
    if not hmac.compare_digest(credentials.credentials.encode(), admin_token.encode()):
        raise Unauthorized("wrong admin token")
