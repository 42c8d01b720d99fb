"""Reconciling a partition's standing proposals with a new optimal allocation. Pure; no I/O.

After a re-solve, each standing proposal is

- **kept** if one party accepted it already (it holds its capacity: only its parties, or the
  withdrawal of one of its sides, end it), or if the new allocation proposes the same pair with
  the same quantity (within 1e-6 base units);
- **amended** if no party has answered it and the new allocation keeps its pair with another
  quantity (a fair split moved when a need joined or left): the same proposal, a new quantity,
  so the parties do not see it vanish and come back under another id;
- otherwise **withdrawn**, with the reason: its need's or its offer's window ended, its need
  or its offer left the partition's open book, or a better allocation replaced it.

Every allocated pair neither kept nor amended is **proposed** anew, in (need, offer) order, so
the same state gives the same proposals. That includes the pair of an accepted proposal: the
allocation only saw what the need still lacks beyond it, so a new allocation there is extra.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.coordinator.matching.allocation import Allocation

__all__ = ["Amendment", "Reconciliation", "StandingProposal", "Withdrawal", "reconcile"]

TOLERANCE = 1e-6

NEED_GONE = "the need was withdrawn or changed so that it no longer fits"
OFFER_GONE = "the offer was withdrawn or changed so that it no longer fits"
REPLACED = "a better allocation of the partition replaced this proposal"
WINDOW_ENDED = "the window of the need or of the offer ended: it is no longer matched"


@dataclass(frozen=True)
class StandingProposal:
    """A match in state ``proposed`` as the reconciliation sees it (quantity in base units)."""

    match_id: str
    need_id: str
    offer_id: str
    quantity: float
    accepted: bool


@dataclass(frozen=True)
class Withdrawal:
    match_id: str
    reason: str


@dataclass(frozen=True)
class Amendment:
    """A standing, unanswered proposal that gets the new allocation's quantity."""

    match_id: str
    allocation: Allocation


@dataclass(frozen=True)
class Reconciliation:
    kept: frozenset[str]  # match ids
    withdrawn: tuple[Withdrawal, ...]
    proposed: tuple[Allocation, ...]
    amended: tuple[Amendment, ...] = ()


def reconcile(
    standing: Iterable[StandingProposal],
    allocations: Mapping[tuple[str, str], Allocation],
    open_needs: frozenset[str] | set[str],
    open_offers: frozenset[str] | set[str],
    ended: frozenset[str] | set[str] = frozenset(),
) -> Reconciliation:
    """Which proposals stay, which change quantity, which go (and why), and which allocations
    become new proposals."""
    kept: set[str] = set()
    taken_pairs: set[tuple[str, str]] = set()
    withdrawn: list[Withdrawal] = []
    amended: list[Amendment] = []
    for proposal in sorted(standing, key=lambda p: p.match_id):
        pair = (proposal.need_id, proposal.offer_id)
        if proposal.accepted:
            kept.add(proposal.match_id)
            continue
        allocation = allocations.get(pair)
        if allocation is not None and pair not in taken_pairs:
            taken_pairs.add(pair)
            if abs(allocation.quantity - proposal.quantity) < TOLERANCE:
                kept.add(proposal.match_id)
            else:
                amended.append(Amendment(proposal.match_id, allocation))
            continue
        withdrawn.append(Withdrawal(proposal.match_id, _why(proposal, open_needs, open_offers, ended)))
    proposed = tuple(allocations[pair] for pair in sorted(allocations) if pair not in taken_pairs)
    return Reconciliation(frozenset(kept), tuple(withdrawn), proposed, tuple(amended))


def _why(
    proposal: StandingProposal, open_needs: Iterable[str], open_offers: Iterable[str], ended: Iterable[str]
) -> str:
    if proposal.need_id in ended or proposal.offer_id in ended:
        return WINDOW_ENDED
    if proposal.need_id not in open_needs:
        return NEED_GONE
    if proposal.offer_id not in open_offers:
        return OFFER_GONE
    return REPLACED
