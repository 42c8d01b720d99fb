"""The quorum rule of a meeting. Pure; no I/O.

A series names the stakeholder kinds its meetings need (``quorum_kinds``, e.g. government,
enterprise, NGO and community). The quorum is met when at least one organisation of each of
those kinds is present; several of one kind count once. A series that requires no kind is
quorate with anyone (or no one) present.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["QuorumCheck", "check_quorum"]


@dataclass(frozen=True)
class QuorumCheck:
    met: bool
    required_kinds: list[str]  # as the series lists them
    present_kinds: list[str]  # each kind present once, sorted
    missing_kinds: list[str]  # the required kinds nobody present is of, in the series' order


def check_quorum(required_kinds: Sequence[str], present_kinds: Iterable[str]) -> QuorumCheck:
    """Whether organisations of ``present_kinds`` (one entry per organisation present) make the
    quorum of a series requiring ``required_kinds``."""
    present = set(present_kinds)
    missing = [kind for kind in required_kinds if kind not in present]
    return QuorumCheck(
        met=not missing,
        required_kinds=list(required_kinds),
        present_kinds=sorted(present),
        missing_kinds=missing,
    )
