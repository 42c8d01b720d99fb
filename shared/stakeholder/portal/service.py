"""The portal's own handlers: accounts of the people who sign in for an organisation, signing
in under the throttle, and evidence files (kept once per content, named by SHA-256)."""

import hashlib
import logging
import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from shared.db import UnitOfWork, utcnow
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.stakeholder.models import (
    EvidenceFile,
    Organisation,
    PortalAccount,
    PortalLoginAttempt,
    PortalSession,
)
from shared.web import accounts as web_accounts
from shared.web.accounts import SignIn, ThrottlePolicy, hash_password, password_matches
from shared.web.sessions import SessionPolicy, SessionStore, client_address

__all__ = [
    "MAX_EVIDENCE_BYTES",
    "STORE",
    "create_account",
    "deactivate_account",
    "evidence_type",
    "keep_evidence",
    "sign_in",
    "sign_out",
    "store_evidence",
]

log = logging.getLogger(__name__)
STORE = SessionStore(PortalSession, "sifang_portal", "/portal")
ROLES = ("admin", "member")
USERNAME = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
MAX_EVIDENCE_BYTES = 5 * 1024 * 1024
# What evidence may be, known by its first bytes (what a file says of its own type is not trusted).
SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"WEBP", 8, "image/webp"),
    (b"%PDF-", 0, "application/pdf"),
)


def create_account(
    session: Session,
    org: Organisation,
    username: str,
    display_name: str,
    password: str,
    role: str,
    created_by: str,
) -> PortalAccount:
    """A new portal account for ``org`` (in ``session``'s transaction; the caller commits)."""
    if not USERNAME.match(username):
        raise InvalidInput("a username is 3–64 letters, digits, '.', '-' or '_'", field="username")
    if role not in ROLES:
        raise InvalidInput("the role is admin or member", field="role")
    if not display_name.strip() or len(display_name) > 100:
        raise InvalidInput("give the person's name (at most 100 characters)", field="display_name")
    if session.get(PortalAccount, username) is not None:
        raise Conflict(f"there is already an account {username!r}", field="username")
    account = PortalAccount(
        username=username,
        organisation_id=org.id,
        display_name=display_name.strip(),
        password_hash=hash_password(password),
        role=role,
        active=True,
        created_by=created_by,
        created_at=utcnow(),
    )
    session.add(account)
    log.info("portal account %s (%s) of organisation %s created by %s", username, role, org.id, created_by)
    return account


def deactivate_account(uow: UnitOfWork, admin: PortalAccount, username: str) -> PortalAccount:
    """An organisation's admin deactivates one of its accounts; its sessions end at once."""
    if admin.role != "admin":
        raise Forbidden("only the organisation's administrators deactivate accounts", field="username")
    account = uow.session.get(PortalAccount, username)
    if account is None or account.organisation_id != admin.organisation_id:
        raise NotFound(f"no account {username!r} of this organisation", field="username")
    if account.username == admin.username:
        raise Conflict("an administrator does not deactivate their own account", field="username")
    account.active = False
    STORE.revoke_all(uow.session, username)
    uow.commit()
    return account


def _authenticate(session: Session, username: str, password: str) -> PortalAccount | None:
    account = session.get(PortalAccount, username)
    if account is None or not account.active:
        password_matches(None, password)  # the same work either way
        return None
    return account if password_matches(account.password_hash, password) else None


def sign_in(
    uow: UnitOfWork,
    connection: HTTPConnection,
    username: str,
    password: str,
    throttle: ThrottlePolicy,
    policy: SessionPolicy,
) -> SignIn[PortalAccount]:
    """Check the password under the throttle; on success a new session (the old one revoked)."""
    session = uow.session
    result = web_accounts.attempt_sign_in(
        session,
        PortalLoginAttempt,
        username,
        client_address(connection),
        throttle,
        lambda: _authenticate(session, username, password),
    )
    if result.locked_until is not None:
        return result
    if result.account is not None:
        STORE.sign_in(session, connection, result.account.username, policy)
    uow.commit()
    return result


def sign_out(uow: UnitOfWork, connection: HTTPConnection) -> None:
    STORE.sign_out(uow.session, connection)
    uow.commit()


def signed_in_account(session: Session, username: str | None) -> tuple[PortalAccount, Organisation] | None:
    """The active account a session is signed in as, with its organisation."""
    account = session.get(PortalAccount, username) if username else None
    if account is None or not account.active:
        return None
    org = session.get(Organisation, account.organisation_id)
    return None if org is None else (account, org)


def evidence_type(content: bytes) -> str | None:
    """The type of a photo or document by its first bytes; None for anything else."""
    for signature, offset, content_type in SIGNATURES:
        if content[offset : offset + len(signature)] == signature:
            if content_type == "image/webp" and not content.startswith(b"RIFF"):
                continue
            return content_type
    return None


def keep_evidence(session: Session, org: Organisation, filename: str, content: bytes) -> EvidenceFile:
    """Keep a photo or document (at most 5 MB) once per content, in ``session``'s transaction:
    the report that carries it commits both, so a refused report keeps no file."""
    if not content:
        raise InvalidInput("the file is empty", field="evidence")
    if len(content) > MAX_EVIDENCE_BYTES:
        raise InvalidInput(f"a file is at most {MAX_EVIDENCE_BYTES} bytes", field="evidence")
    content_type = evidence_type(content)
    if content_type is None:
        raise InvalidInput("evidence is a JPEG, PNG or WebP photo or a PDF document", field="evidence")
    digest = hashlib.sha256(content).hexdigest()
    existing = session.get(EvidenceFile, digest)
    if existing is not None:
        return existing
    record = EvidenceFile(
        sha256=digest,
        organisation_id=org.id,
        content_type=content_type,
        filename=re.sub(r"[^\w.\-]+", "_", filename)[-200:] or "evidence",
        size=len(content),
        content=content,
        created_at=utcnow(),
    )
    session.add(record)
    return record


def store_evidence(uow: UnitOfWork, org: Organisation, filename: str, content: bytes) -> EvidenceFile:
    """Keep a file on its own (``POST /evidence``) and commit."""
    record = keep_evidence(uow.session, org, filename, content)
    try:
        uow.commit()
    except IntegrityError:  # the same content uploaded at the same moment: it is kept once
        uow.session.rollback()
        stored = uow.session.get(EvidenceFile, record.sha256)
        if stored is None:
            raise
        return stored
    return record


def accounts_of(session: Session, org: Organisation) -> list[PortalAccount]:
    return list(
        session.scalars(
            select(PortalAccount)
            .where(PortalAccount.organisation_id == org.id)
            .order_by(PortalAccount.username)
        )
    )
