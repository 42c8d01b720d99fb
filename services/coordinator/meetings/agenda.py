"""Compiling a meeting's agenda from live state: ranked by a stated rule, then time-boxed.

Sources, with the priority rule (higher first; ties: the older item, then its key):

==================  ==========================================================  =========
source              priority                                                    minutes
==================  ==========================================================  =========
dispute             90                                                          20
overdue_action      80 + days overdue (at most +10)                             10
proposal            60                                                          15
stalled_match       50 + 5 per decline or expiry beyond the second (at most +15)  10
unmatched_need      40 + 3 per week waiting beyond the threshold (at most +15)  5
new_programme       30                                                          10
==================  ==========================================================  =========

Items are placed in that order into the meeting's duration; an item that does not fit what
is left rolls to the next meeting (it stays in the live state, so the next compilation
meets it again, older and so no lower). The same state and cut-off give the same agenda.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["RULES", "AgendaCandidate", "compile_agenda", "slot_items"]

RULES: dict[str, tuple[int, int]] = {
    "dispute": (90, 20),
    "overdue_action": (80, 10),
    "proposal": (60, 15),
    "stalled_match": (50, 10),
    "unmatched_need": (40, 5),
    "new_programme": (30, 10),
}


@dataclass(frozen=True)
class AgendaCandidate:
    key: str
    source: str
    title: str
    reason: str
    link: str
    since: datetime
    organisation_id: str | None = None
    weight: int = 0  # days overdue, declines beyond two, or weeks waiting beyond the threshold

    def priority(self) -> tuple[int, str]:
        base, _ = RULES[self.source]
        if self.source == "overdue_action":
            bonus, why = min(10, self.weight), f"80 + {min(10, self.weight)} for days overdue"
        elif self.source == "stalled_match":
            bonus, why = min(15, 5 * self.weight), f"50 + {min(15, 5 * self.weight)} for repeated refusals"
        elif self.source == "unmatched_need":
            bonus, why = min(15, 3 * self.weight), f"40 + {min(15, 3 * self.weight)} for weeks waiting"
        else:
            bonus, why = 0, f"{base} for a {self.source.replace('_', ' ')}"
        return base + bonus, why


def _as_item(candidate: AgendaCandidate) -> dict[str, Any]:
    priority, rule = candidate.priority()
    return {
        "key": candidate.key,
        "source": candidate.source,
        "title": candidate.title,
        "reason": candidate.reason,
        "link": candidate.link,
        "organisation_id": candidate.organisation_id,
        "since": candidate.since.isoformat(),
        "priority": priority,
        "priority_rule": rule,
        "minutes": RULES[candidate.source][1],
    }


def slot_items(
    items: Iterable[dict[str, Any]], duration_minutes: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Give items consecutive time slots in the given order; those that do not fit roll over."""
    placed: list[dict[str, Any]] = []
    overflow: list[dict[str, Any]] = []
    clock = 0
    for item in items:
        if clock + int(item["minutes"]) <= duration_minutes:
            placed.append(item | {"start_minute": clock, "end_minute": clock + int(item["minutes"])})
            clock += int(item["minutes"])
        else:
            overflow.append({k: v for k, v in item.items() if k not in ("start_minute", "end_minute")})
    return placed, overflow


def compile_agenda(
    candidates: Iterable[AgendaCandidate], duration_minutes: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rank the candidates by the rule above and time-box them into the meeting."""
    unique = {c.key: c for c in candidates}
    ranked = sorted(unique.values(), key=lambda c: (-c.priority()[0], c.since, c.key))
    return slot_items((_as_item(c) for c in ranked), duration_minutes)
