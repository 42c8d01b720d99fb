"""The rules of mediating a dispute (常态化调解), as pure functions over its state.

A dispute a community raised goes through these steps, each with a time limit:

==================  =============================================  ======  ==================
step                who acts                                       limit   counted from
==================  =============================================  ======  ==================
assign_mediator     a coordinator names a neutral social-work org  3 days  the dispute raised
statements          each party states its case                     7 days  the mediator named
settlement          the mediator proposes a settlement             14 days the mediator named
answers             each party accepts or rejects it               7 days  the proposal
==================  =============================================  ======  ==================

- The mediator is a registered social-work organisation (kind ``ngo``) that is not a party.
- Only the parties (the community that raised it and the others it named) state their case
  and answer a settlement; only the mediator proposes one or declares the mediation failed.
- A settlement every party accepts **settles** the dispute; one a party rejects sends it back
  to the mediator, who may propose another or declare the mediation failed.
- When a step's limit passes, those who must act are **reminded** (once per step); when
  twice the limit has passed, or the mediator declares it failed, the dispute is
  **escalated** to the next joint meeting's agenda with its history.
- Settled and escalated are final; each is recorded in the county's hash chain. A joint
  meeting's decision on the dispute closes it too (``decided``), whatever its step.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from shared.rule_errors import RuleBroken

__all__ = [
    "FINAL",
    "LIMITS",
    "SETTLEMENTS",
    "STATEMENTS_PER_PARTY",
    "Due",
    "RuleBroken",
    "Step",
    "check_answer",
    "check_end",
    "check_mediator",
    "check_settlement",
    "check_statement",
    "due",
    "pending_settlement",
    "settled",
    "step_of",
]

LIMITS: dict[str, timedelta] = {
    "assign_mediator": timedelta(days=3),
    "statements": timedelta(days=7),
    "settlement": timedelta(days=14),
    "answers": timedelta(days=7),
}
FINAL = ("settled", "escalated", "decided")
# what one dispute holds at most, so that its whole state stays a small event
STATEMENTS_PER_PARTY = 3
SETTLEMENTS = 5


@dataclass(frozen=True)
class Step:
    """What the dispute waits for, from whom, and until when."""

    name: str
    awaiting: list[str]
    deadline: datetime


def pending_settlement(settlements: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The settlement the parties are answering, if one is."""
    if settlements and settlements[-1]["status"] == "proposed":
        return settlements[-1]
    return None


def step_of(state: Mapping[str, Any]) -> Step | None:
    """The step the dispute is at (None once it is settled or escalated).

    ``state`` holds ``status``, ``raised_at``, ``mediator``, ``mediator_since``, ``parties``,
    ``statements`` (each with ``organisation_id``) and ``settlements`` (each with ``status``,
    ``proposed_at`` and ``answers``)."""
    if state["status"] in FINAL:
        return None
    mediator = state.get("mediator")
    if mediator is None:
        return Step("assign_mediator", [], state["raised_at"] + LIMITS["assign_mediator"])
    since: datetime = state["mediator_since"]
    pending = pending_settlement(state["settlements"])
    if pending is not None:
        answered = {a["organisation_id"] for a in pending["answers"]}
        waiting = [p for p in state["parties"] if p not in answered]
        return Step("answers", waiting, pending["proposed_at"] + LIMITS["answers"])
    stated = {s["organisation_id"] for s in state["statements"]}
    silent = [p for p in state["parties"] if p not in stated]
    if silent and not state["settlements"]:
        return Step("statements", silent, since + LIMITS["statements"])
    last_rejected = state["settlements"][-1]["answered_at"] if state["settlements"] else None
    start = max(since, last_rejected) if last_rejected is not None else since
    return Step("settlement", [mediator], start + LIMITS["settlement"])


@dataclass(frozen=True)
class Due:
    """What the clock must do for a dispute at an instant: remind, or escalate (and why)."""

    action: Literal["remind", "escalate"]
    step: Step


def due(state: Mapping[str, Any], now: datetime) -> Due | None:
    """Whether ``now`` calls for a reminder (the step's limit passed, not reminded yet) or an
    escalation (twice the limit passed)."""
    step = step_of(state)
    if step is None or now < step.deadline:
        return None
    if now >= step.deadline + LIMITS[step.name]:
        return Due("escalate", step)
    reminded = any(
        r["step"] == step.name and r["deadline"] == step.deadline.isoformat() for r in state["reminders"]
    )
    return None if reminded else Due("remind", step)


def _open(status: str) -> None:
    if status in FINAL:
        raise RuleBroken(f"the dispute is {status}", "dispute_id")


def check_mediator(
    status: str, mediator: str | None, candidate_kind: str | None, candidate: str, parties: Sequence[str]
) -> None:
    _open(status)
    if mediator is not None:
        raise RuleBroken(f"the dispute has a mediator already ({mediator})", "mediator_organisation_id")
    if candidate_kind is None:
        raise RuleBroken(f"{candidate} is not a registered organisation", "mediator_organisation_id")
    if candidate_kind != "ngo":
        raise RuleBroken(
            f"a mediator is a social-work organisation (ngo); {candidate} is registered as {candidate_kind}",
            "mediator_organisation_id",
        )
    if candidate in parties:
        raise RuleBroken("a party to the dispute cannot mediate it", "mediator_organisation_id")


def _party(parties: Sequence[str], organisation_id: str) -> None:
    if organisation_id not in parties:
        raise RuleBroken(f"organisation {organisation_id} is not a party to the dispute", "organisation_id")


def check_statement(
    status: str,
    mediator: str | None,
    parties: Sequence[str],
    organisation_id: str,
    statements: Sequence[Mapping[str, Any]] = (),
) -> None:
    _open(status)
    _party(parties, organisation_id)
    if mediator is None:
        raise RuleBroken("the dispute has no mediator yet: statements go to the mediator", "dispute_id")
    if sum(1 for s in statements if s["organisation_id"] == organisation_id) >= STATEMENTS_PER_PARTY:
        raise RuleBroken(f"a party makes at most {STATEMENTS_PER_PARTY} statements", "statement")


def check_settlement(
    status: str, mediator: str | None, settlements: Sequence[Mapping[str, Any]], organisation_id: str
) -> None:
    _open(status)
    if organisation_id != mediator:
        raise RuleBroken("only the dispute's mediator proposes a settlement", "organisation_id")
    if pending_settlement(settlements) is not None:
        raise RuleBroken("a settlement is awaiting the parties' answers", "dispute_id")
    if len(settlements) >= SETTLEMENTS:
        raise RuleBroken(
            f"{SETTLEMENTS} settlements were proposed: declare the mediation failed instead", "dispute_id"
        )


def check_answer(
    status: str,
    parties: Sequence[str],
    settlements: Sequence[Mapping[str, Any]],
    organisation_id: str,
    settlement_id: str,
) -> Mapping[str, Any]:
    """The pending settlement a party may answer."""
    _open(status)
    _party(parties, organisation_id)
    pending = pending_settlement(settlements)
    if pending is None or pending["settlement_id"] != settlement_id:
        raise RuleBroken(f"settlement {settlement_id} is not awaiting answers", "settlement_id")
    if any(a["organisation_id"] == organisation_id for a in pending["answers"]):
        raise RuleBroken(f"organisation {organisation_id} has answered this settlement", "settlement_id")
    return pending


def settled(parties: Sequence[str], answers: Sequence[Mapping[str, Any]]) -> bool | None:
    """True once every party accepted, False as soon as one rejected, None while answers are due."""
    if any(a["answer"] == "reject" for a in answers):
        return False
    accepted = {a["organisation_id"] for a in answers if a["answer"] == "accept"}
    return True if set(parties) <= accepted else None


def check_end(status: str, mediator: str | None, organisation_id: str) -> None:
    _open(status)
    if organisation_id != mediator:
        raise RuleBroken("only the dispute's mediator declares the mediation failed", "organisation_id")
