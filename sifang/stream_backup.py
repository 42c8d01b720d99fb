"""Back up the event stream to a file and restore it into a fresh server.

The stream is the record everything else derives from (the coordinator equals its replay), so a
backup of it is a backup of the platform's history. The file is JSON lines: a header line (the
stream's name, its first and last sequence, how many messages, when), then one line per message
in stream order with its sequence, subject, headers (``Nats-Msg-Id`` among them) and data
(base64). A restore publishes them in that order into an empty stream on another server, as the
admin user; each message must land at its original sequence, or the restore stops and says
where (a stream with deleted messages cannot be reproduced sequence for sequence).
"""

import asyncio
import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client

from shared.db import utcnow
from shared.messaging.access import admin_credentials
from shared.messaging.nats import STREAM_NAME, STREAM_SUBJECTS, ensure_stream, servers

__all__ = ["BackupError", "Summary", "back_up_stream", "restore_stream"]

FORMAT = "sifang-stream-backup/1"


class BackupError(Exception):
    """The backup cannot be written or restored as asked; the message says why."""


@dataclass(frozen=True)
class Summary:
    messages: int
    first_sequence: int
    last_sequence: int


async def _connect(nats_url: str) -> Client:
    return await nats.connect(
        servers(nats_url), connect_timeout=5, name="sifang-backup", **admin_credentials()
    )


async def _back_up(nats_url: str, path: Path) -> Summary:
    client = await _connect(nats_url)
    try:
        js = client.jetstream(timeout=10)
        state = (await js.stream_info(STREAM_NAME)).state
        first, last, count = int(state.first_seq or 0), int(state.last_seq or 0), int(state.messages or 0)
        written = 0
        with path.open("w", encoding="utf-8") as out:
            header = {"format": FORMAT, "stream": STREAM_NAME, "first_sequence": first}
            header |= {"last_sequence": last, "messages": count, "taken_at": utcnow().isoformat()}
            out.write(json.dumps(header) + "\n")
            if count:
                subscription = await js.subscribe(
                    STREAM_SUBJECTS[0], ordered_consumer=True, stream=STREAM_NAME
                )
                try:
                    while written < count:
                        message = await subscription.next_msg(timeout=10)
                        sequence = message.metadata.sequence.stream
                        if sequence > last:
                            break
                        line = {
                            "sequence": sequence,
                            "subject": message.subject,
                            "headers": dict(message.headers or {}),
                            "data": base64.b64encode(message.data).decode(),
                        }
                        out.write(json.dumps(line, ensure_ascii=False) + "\n")
                        written += 1
                finally:
                    await subscription.unsubscribe()
        return Summary(written, first, last)
    finally:
        await client.close()


def back_up_stream(nats_url: str, path: Path) -> Summary:
    """Write every message of the stream, as it is now, to ``path``."""
    return asyncio.run(_back_up(nats_url, path))


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as source:
        for number, line in enumerate(source, start=1):
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise BackupError(f"{path}:{number}: not a backup line ({exc})") from exc


async def _restore(nats_url: str, path: Path, replicas: int) -> Summary:
    lines = _lines(path)
    header = next(lines, None)
    if not header or header.get("format") != FORMAT:
        raise BackupError(f"{path} is not a Sifang stream backup (no {FORMAT} header)")
    client = await _connect(nats_url)
    try:
        js = client.jetstream(timeout=10)
        await ensure_stream(js, replicas=replicas)
        if (await js.stream_info(STREAM_NAME)).state.messages:
            raise BackupError("the target stream already holds messages: restore into an empty one")
        restored = 0
        for line in lines:
            headers = {str(k): str(v) for k, v in (line.get("headers") or {}).items()}
            ack = await js.publish(
                line["subject"], base64.b64decode(line["data"]), stream=STREAM_NAME, headers=headers or None
            )
            if ack.duplicate or ack.seq != line["sequence"]:
                raise BackupError(
                    f"message {line['sequence']} landed at sequence {ack.seq}"
                    f"{' as a duplicate' if ack.duplicate else ''}: restored {restored}, stopped"
                )
            restored += 1
        if restored != header["messages"]:
            raise BackupError(f"the backup says {header['messages']} messages but holds {restored}")
        return Summary(restored, int(header["first_sequence"]), int(header["last_sequence"]))
    finally:
        await client.close()


def restore_stream(nats_url: str, path: Path, replicas: int = 1) -> Summary:
    """Publish a backup into the (new, empty) stream of the server at ``nats_url``."""
    return asyncio.run(_restore(nats_url, path, replicas))
