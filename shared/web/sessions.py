"""Server-side sessions for server-rendered pages (the coordinators' dashboard, the parties'
portal) and the security headers of every such response.

The browser's cookie carries only a random session id (256 bits); the database keeps its
SHA-256 with the account, the session's small state (CSRF token, language, the next flash
message), when it was created and last seen, when it expires and whether it was revoked. Signing
out revokes the row, so a copied cookie stops working; a password change revokes every session
of the account (:meth:`SessionStore.revoke_all`). Visitors who have not signed in get an
anonymous row (for the sign-in form's CSRF token), which signing in replaces with a new id (no
session fixation).

Each site has its own table (a mapped class with :class:`SessionColumns`), cookie and path, in a
:class:`SessionStore`; :class:`WebSessions` is the ASGI middleware for one store.
"""

import hashlib
import json
import logging
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any

import anyio
from sqlalchemy import String, delete, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.db import utcnow

__all__ = [
    "CSP",
    "SessionColumns",
    "SessionHandle",
    "SessionPolicy",
    "SessionStore",
    "WebSessions",
    "client_address",
    "current_handle",
    "signed_in_user",
    "until_revoked",
]

log = logging.getLogger(__name__)

# No inline script anywhere (scripts and styles are files under the site's /static); inline SVG
# charts are markup, not script. `form-action 'self'` keeps forms from posting elsewhere.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}
TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often
ANONYMOUS_LIFETIME = timedelta(hours=2)


class SessionColumns:
    """The columns of a sessions table (mixed into a site's mapped class). The table holds the
    SHA-256 of the random id, so a copy of the table signs nobody in."""

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    data: Mapped[dict[str, Any]]
    client_address: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class SessionPolicy:
    lifetime: timedelta  # from sign-in, however active
    idle: timedelta  # without a request
    production: bool  # cookies are Secure in production whatever the scheme


@dataclass
class SessionHandle:
    """The request's session: ``data`` is ``request.session``; ``session_id`` the cookie's value."""

    session_id: str | None = None
    username: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    snapshot: str = "{}"
    last_seen_at: datetime | None = None
    set_cookie: bool = False
    clear_cookie: bool = False


def _serialised(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def client_address(connection: HTTPConnection) -> str:
    return (connection.client.host if connection.client else "unknown")[:64]


def current_handle(connection: HTTPConnection) -> SessionHandle:
    handle: SessionHandle = connection.scope["sifang.session"]
    return handle


def signed_in_user(connection: HTTPConnection) -> str | None:
    return current_handle(connection).username


def _live(row: SessionColumns, now: datetime, idle: timedelta) -> bool:
    return row.revoked_at is None and row.expires_at > now and row.last_seen_at + idle > now


@dataclass(frozen=True)
class SessionStore:
    """One site's sessions: its table (``model``), its cookie and the path the cookie is for."""

    model: type[SessionColumns]
    cookie: str
    prefix: str

    def sign_in(
        self, session: Session, connection: HTTPConnection, username: str, policy: SessionPolicy
    ) -> None:
        """A new session for ``username`` (in ``session``'s transaction); the old one is revoked."""
        model: Any = self.model
        handle = current_handle(connection)
        now = utcnow()
        if handle.session_id is not None:
            session.execute(
                update(model).where(model.id_hash == _hash(handle.session_id)).values(revoked_at=now)
            )
        # Expired and long-revoked rows go now and then (here: at every sign-in).
        session.execute(delete(model).where(model.expires_at < now - timedelta(days=1)))
        session_id = secrets.token_urlsafe(32)
        data = {"lang": handle.data["lang"]} if "lang" in handle.data else {}
        session.add(
            model(
                id_hash=_hash(session_id),
                username=username,
                data=data,
                client_address=client_address(connection),
                created_at=now,
                last_seen_at=now,
                expires_at=now + policy.lifetime,
                revoked_at=None,
            )
        )
        handle.data.clear()
        handle.data.update(data)
        handle.session_id, handle.username, handle.last_seen_at = session_id, username, now
        handle.snapshot = _serialised(data)
        handle.set_cookie = True

    def sign_out(self, session: Session, connection: HTTPConnection) -> None:
        """Revoke the request's session: its cookie, wherever it was copied, signs nobody in."""
        model: Any = self.model
        handle = current_handle(connection)
        if handle.session_id is not None:
            session.execute(
                update(model).where(model.id_hash == _hash(handle.session_id)).values(revoked_at=utcnow())
            )
        handle.session_id, handle.username = None, None
        handle.data.clear()
        handle.snapshot = "{}"
        handle.clear_cookie = True

    def revoke_all(self, session: Session, username: str) -> int:
        """Revoke every live session of ``username``; returns how many."""
        model: Any = self.model
        result = session.execute(
            update(model)
            .where(model.username == username, model.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def still_valid(self, session_factory: sessionmaker[Session], session_id: str, idle: timedelta) -> bool:
        with session_factory() as session:
            row = session.get(self.model, _hash(session_id))
            return row is not None and _live(row, utcnow(), idle)

    def owns(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")


class WebSessions:
    """ASGI middleware for one site (``store.prefix``): loads the session named by the cookie
    into ``scope["session"]`` (what ``request.session`` reads), saves what changed, sets the
    cookie (``Secure`` over HTTPS or in production, ``HttpOnly``, ``SameSite=Lax``, path the
    site's) and adds the Content-Security-Policy and the other security headers to every
    response."""

    def __init__(
        self,
        app: ASGIApp,
        store: SessionStore,
        session_factory: sessionmaker[Session],
        policy: SessionPolicy,
    ) -> None:
        self.app = app
        self.store = store
        self.session_factory = session_factory
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not self.store.owns(path):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        cookie = connection.cookies.get(self.store.cookie)
        handle = await anyio.to_thread.run_sync(self._load, cookie) if cookie else SessionHandle()
        if cookie and handle.session_id is None:
            handle.clear_cookie = True  # unknown, expired or revoked: forget it
        scope["session"] = handle.data
        scope["sifang.session"] = handle
        secure = scope.get("scheme") == "https" or self.policy.production
        address = client_address(connection)
        static = path.startswith(self.store.prefix + "/static/")

        async def send_with_session(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                await anyio.to_thread.run_sync(self._save, handle, address)
                if handle.set_cookie and handle.session_id:
                    headers.append("set-cookie", self._cookie(handle.session_id, secure))
                elif handle.clear_cookie:
                    headers.append("set-cookie", self._cookie("", secure, max_age=0))
                if "content-security-policy" not in headers:
                    headers["content-security-policy"] = CSP
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if not static:
                    headers.setdefault("cache-control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_session)

    def _cookie(self, value: str, secure: bool, max_age: int | None = None) -> str:
        name = self.store.cookie
        morsel: SimpleCookie = SimpleCookie()
        morsel[name] = value
        morsel[name]["path"] = self.store.prefix
        morsel[name]["httponly"] = True
        morsel[name]["samesite"] = "Lax"
        if secure:
            morsel[name]["secure"] = True
        if max_age is not None:
            morsel[name]["max-age"] = max_age
        return morsel.output(header="").strip()

    def _load(self, session_id: str) -> SessionHandle:
        with self.session_factory() as session:
            row = session.get(self.store.model, _hash(session_id))
            if row is None or not _live(row, utcnow(), self.policy.idle):
                return SessionHandle()
            data = dict(row.data)
            return SessionHandle(
                session_id=session_id,
                username=row.username,
                data=data,
                snapshot=_serialised(data),
                last_seen_at=row.last_seen_at,
            )

    def _save(self, handle: SessionHandle, address: str) -> None:
        model: Any = self.store.model
        now = utcnow()
        serialised = _serialised(handle.data)
        if handle.session_id is None:
            if not handle.data:
                return
            # An anonymous visitor's first state (the sign-in form's CSRF token): a new row.
            handle.session_id = secrets.token_urlsafe(32)
            with self.session_factory() as session:
                # rows long expired go now and then (here: with each new visitor's)
                session.execute(delete(model).where(model.expires_at < now - timedelta(days=1)))
                session.add(
                    model(
                        id_hash=_hash(handle.session_id),
                        username=None,
                        data=json.loads(serialised),
                        client_address=address,
                        created_at=now,
                        last_seen_at=now,
                        expires_at=now + ANONYMOUS_LIFETIME,
                        revoked_at=None,
                    )
                )
                session.commit()
            handle.set_cookie = True
            return
        changed = serialised != handle.snapshot
        stale = handle.last_seen_at is None or now - handle.last_seen_at > TOUCH_EVERY
        if not changed and not stale:
            return
        values: dict[str, Any] = {"last_seen_at": now}
        if changed:
            values["data"] = json.loads(serialised)
        with self.session_factory() as session:
            session.execute(
                update(model)
                .where(model.id_hash == _hash(handle.session_id), model.revoked_at.is_(None))
                .values(**values)
            )
            session.commit()


async def until_revoked(
    chunks: AsyncIterable[Any], check: Callable[[], bool], every: float = 15.0
) -> AsyncIterator[Any]:
    """Pass ``chunks`` through until ``check`` (run in a thread, at most every ``every`` seconds,
    between chunks) says the session is no longer valid: a revoked session's live stream ends."""
    last = anyio.current_time()
    async for chunk in chunks:
        if anyio.current_time() - last > every:
            last = anyio.current_time()
            if not await anyio.to_thread.run_sync(check):
                log.info("stream closed: its session was revoked or expired")
                return
        yield chunk
