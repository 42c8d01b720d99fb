"""The hash chain of a series' records (minutes and amendments). Pure; no I/O.

Each record's hash is SHA-256 over the previous record's hash followed by the record's content
as canonical JSON (keys sorted, no spaces, UTF-8); the first record of a series follows
:data:`GENESIS`. A chain is valid when every record names the hash of the one before it and its
own hash matches its content, so editing any stored record, or cutting one out, breaks it at
that record.
"""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["GENESIS", "ChainLink", "ChainVerdict", "canonical", "hash_record", "verify_links"]

GENESIS = "0" * 64


def canonical(content: dict[str, Any]) -> str:
    """The content as hashed: JSON with sorted keys and no whitespace, non-ASCII kept."""
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def hash_record(previous_hash: str, content: dict[str, Any]) -> str:
    return hashlib.sha256((previous_hash + canonical(content)).encode()).hexdigest()


@dataclass(frozen=True)
class ChainLink:
    """A stored record as the chain sees it; ``sequence`` numbers it within its series."""

    sequence: int
    previous_hash: str
    content: dict[str, Any]
    record_hash: str


@dataclass(frozen=True)
class ChainVerdict:
    valid: bool
    records: int
    broken_at: int | None  # the sequence of the first record that does not fit
    head: str | None  # the last record's hash (GENESIS for an empty chain); None when broken


def verify_links(links: Iterable[ChainLink]) -> ChainVerdict:
    """Recompute the chain over ``links`` in their order: where it breaks, or its head."""
    chain = list(links)
    previous = GENESIS
    for link in chain:
        if link.previous_hash != previous or hash_record(previous, link.content) != link.record_hash:
            return ChainVerdict(valid=False, records=len(chain), broken_at=link.sequence, head=None)
        previous = link.record_hash
    return ChainVerdict(valid=True, records=len(chain), broken_at=None, head=previous)
