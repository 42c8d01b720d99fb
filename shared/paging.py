"""Bounds of the paging query parameters every listing shares: ``limit``, ``offset`` and
positions in a sequence (``after_sequence``, ``after``, a version).

They are checked by the schema, so an out-of-range value is a 422 naming the parameter, not an
integer the database cannot hold (SQLite and PostgreSQL stop at 2**63 - 1). Positions stop at
2**53 - 1, the largest integer every JSON client holds exactly; no stream or table here comes
near it.
"""

from typing import Annotated

from fastapi import Query

__all__ = ["MAX_LIMIT", "MAX_POSITION", "AfterSequence", "Limit", "Offset", "VersionNumber"]

MAX_LIMIT = 1000
MAX_POSITION = 2**53 - 1

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"at most this many rows (1 to {MAX_LIMIT})")]
Offset = Annotated[int, Query(ge=0, le=MAX_POSITION, description="skip this many rows first")]
AfterSequence = Annotated[
    int, Query(ge=0, le=MAX_POSITION, description="only what comes after this sequence number")
]
VersionNumber = Annotated[int | None, Query(ge=1, le=MAX_POSITION, description="a version number")]
