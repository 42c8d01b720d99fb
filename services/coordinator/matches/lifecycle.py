"""A match's lifecycle: its states and the only moves between them. Pure; no I/O.

::

    proposed ──both parties accept──▶ confirmed ──delivered in full──▶ fulfilled
       │
       ├── a party declines ──────────▶ declined
       ├── nobody answers in time ────▶ expired
       └── a side withdrawn, a better
           allocation, a coordinator ─▶ withdrawn

A proposal accepted by one party stays ``proposed`` (it holds its capacity meanwhile); a nudge
publishes it again without changing its state. Every other change is refused.
"""

from enum import StrEnum

from shared.errors import Conflict

__all__ = ["ACTIVE", "TRANSITIONS", "IllegalTransition", "MatchStatus", "check_transition", "holds_capacity"]


class MatchStatus(StrEnum):
    PROPOSED = "proposed"
    CONFIRMED = "confirmed"
    FULFILLED = "fulfilled"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


TRANSITIONS: dict[MatchStatus, frozenset[MatchStatus]] = {
    MatchStatus.PROPOSED: frozenset(
        {MatchStatus.CONFIRMED, MatchStatus.DECLINED, MatchStatus.EXPIRED, MatchStatus.WITHDRAWN}
    ),
    MatchStatus.CONFIRMED: frozenset({MatchStatus.FULFILLED}),
    MatchStatus.FULFILLED: frozenset(),
    MatchStatus.DECLINED: frozenset(),
    MatchStatus.EXPIRED: frozenset(),
    MatchStatus.WITHDRAWN: frozenset(),
}

# The states in which a match still stands: it uses its offer's capacity and serves its need.
ACTIVE: frozenset[MatchStatus] = frozenset(
    {MatchStatus.PROPOSED, MatchStatus.CONFIRMED, MatchStatus.FULFILLED}
)
# The states in which a need's party or the offer's said no, or let it lapse.
REFUSED: frozenset[MatchStatus] = frozenset({MatchStatus.DECLINED, MatchStatus.EXPIRED})


class IllegalTransition(Conflict):
    """A match cannot move from its state to the one asked for."""

    def __init__(self, match_id: str, current: MatchStatus, wanted: MatchStatus) -> None:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing: it is final"
        super().__init__(
            f"match {match_id} is {current}; it cannot become {wanted} (from {current}: {allowed})",
            field="status",
        )
        self.current, self.wanted = current, wanted


def check_transition(match_id: str, current: MatchStatus, wanted: MatchStatus) -> None:
    """Raise IllegalTransition unless ``current`` → ``wanted`` is one of the allowed moves."""
    if wanted not in TRANSITIONS[current]:
        raise IllegalTransition(match_id, current, wanted)


def holds_capacity(status: MatchStatus, accepted: bool) -> bool:
    """Confirmed, fulfilled, or accepted by one side already (``accepted``): not re-solved away."""
    return status in (MatchStatus.CONFIRMED, MatchStatus.FULFILLED) or (
        status == MatchStatus.PROPOSED and accepted
    )
