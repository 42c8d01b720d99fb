"""Text that no database stores and no page should show: refused at the door, naming the field.

PostgreSQL cannot store U+0000 in text, and an unpaired surrogate (``"\\ud800"`` in JSON) is
not UTF-8 at all, so either would fail deep inside a transaction as "database unavailable".
Other C0 control characters are never meant in a title or a note and can hide text on a page.
Tabs and line breaks are text. :class:`TextGuard` checks each request's path, query string and
JSON, form or multipart body (its text parts) before any handler runs and answers 422 with the
field and the problem; a multipart body (a file upload) larger than ``MAX_MULTIPART_BYTES`` is
answered 413 before it is read to the end. The body is read here, outside the write limit, so a
slow upload never holds a write slot;
:func:`first_unstorable` is the same check for event payloads (the consumer dead-letters them).
"""

import json
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser

__all__ = ["TextGuard", "first_unstorable", "problem_with"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_CHECKED_BODIES = ("application/json", "application/x-www-form-urlencoded")
MULTIPART = "multipart/form-data"
MAX_MULTIPART_BYTES = 6 * 1024 * 1024  # a 5 MB evidence file and its form


def problem_with(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None if it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    code = f"U+{ord(found.group()):04X}"
    if 0xD800 <= ord(found.group()) <= 0xDFFF:
        return f"contains an unpaired surrogate ({code}), which is not text"
    return (
        f"contains the control character {code} at position {found.start()}; "
        "text may hold tabs and line breaks but no other control characters"
    )


def first_unstorable(value: Any, path: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """The first string in ``value`` (keys included, depth first) that cannot be stored, as
    (dotted field path, problem); None if every string can be."""
    if isinstance(value, str):
        problem = problem_with(value)
        return None if problem is None else (".".join(path), problem)
    if isinstance(value, dict):
        for key, item in value.items():
            here = (*path, str(key))
            key_problem = problem_with(str(key))
            if key_problem is not None:
                return ".".join(here), f"the name {key_problem}"
            found = first_unstorable(item, here)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = first_unstorable(item, (*path, str(index)))
            if found is not None:
                return found
    return None


def _first_in_pairs(encoded: str) -> tuple[str, str] | None:
    """The first field of a query string or form body (every copy of a repeated name) that
    cannot be stored."""
    for key, value in parse_qsl(encoded, keep_blank_values=True):
        found = first_unstorable({key: value})
        if found is not None:
            return found
    return None


def _refusal(field: str, problem: str) -> bytes:
    body = {
        "error": "validation_failed",
        "message": f"{field or 'body'}: {problem}",
        "errors": [{"field": field, "problem": problem}],
    }
    return json.dumps(body, ensure_ascii=False).encode()


class TextGuard:
    """ASGI middleware refusing, with 422, requests whose text cannot be stored."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = self._in_address(scope)
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        media = content_type.split(";")[0].strip().lower()
        checked = found is None and media in (*_CHECKED_BODIES, MULTIPART)
        body: bytes | None = b""
        if checked and media == MULTIPART:
            declared = headers.get(b"content-length", b"0").decode("latin-1")
            too_large = not declared.isdigit() or int(declared) > MAX_MULTIPART_BYTES
            body = None if too_large else await _read_body(receive, MAX_MULTIPART_BYTES)
            if body is None:
                problem = f"an upload is at most {MAX_MULTIPART_BYTES} bytes with its form"
                await _refuse(send, "body", problem, status=413)
                return
            found = await _in_multipart(body, scope)
        elif checked:
            body = await _read_body(receive)
            assert body is not None  # no limit
            found = _in_body(body, content_type)
        if found is not None:
            await _refuse(send, *found)
            return
        if not checked:
            await self.app(scope, receive, send)
            return
        await self.app(scope, _replay(body or b"", receive), send)

    @staticmethod
    def _in_address(scope: Scope) -> tuple[str, str] | None:
        problem = problem_with(str(scope.get("path", "")))
        if problem is not None:
            return "path", problem
        query = bytes(scope.get("query_string") or b"").decode("utf-8", errors="replace")
        return _first_in_pairs(query)


async def _read_body(receive: Receive, limit: int | None = None) -> bytes | None:
    """The whole body; None once it exceeds ``limit`` bytes (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: nothing to check
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _in_multipart(body: bytes, scope: Scope) -> tuple[str, str] | None:
    """The first text part of a multipart body that cannot be stored (files are not text)."""

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(Headers(scope=scope), stream())
    try:
        form = await parser.parse()
    except MultiPartException:
        return None  # not a well-formed form: the route's own parsing says so
    try:
        for key, value in form.multi_items():
            found = first_unstorable({key: value}) if isinstance(value, str) else None
            if found is not None:
                return found
        return None
    finally:
        await form.close()


def _in_body(body: bytes, content_type: str) -> tuple[str, str] | None:
    if content_type.startswith("application/json"):
        try:
            document = json.loads(body)
        except ValueError:
            return None  # not JSON: the route's own validation says so
        return first_unstorable(document)
    return _first_in_pairs(body.decode("utf-8", errors="replace"))


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _refuse(send: Send, field: str, problem: str, status: int = 422) -> None:
    content = _refusal(field, problem)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
