"""The rules of a cross-sector project, as pure functions over its members and milestones.

- A project is **active** once the members who joined span at least two kinds of party
  (government, enterprise, ngo, community); until then it is **proposed**, and says whom it
  waits for or that one kind is not enough. A project a joint meeting decided starts with every
  member joined. Closing (by the lead) makes it **completed** or **abandoned**, for good.
- Only an invited member whose answer is pending may answer; only a joined member of an
  active project may report progress; a milestone done stays done.
- A milestone of an active project past its due date unfinished is **overdue**, and stays
  overdue until it is reported done.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared.rule_errors import RuleBroken

__all__ = [
    "MILESTONE_OPEN",
    "ProjectState",
    "RuleBroken",
    "after_progress",
    "check_answer",
    "check_close",
    "check_progress",
    "next_due",
    "overdue",
    "status_of",
]

MILESTONE_OPEN = ("open", "in_progress", "blocked")
CLOSED = ("completed", "abandoned")


@dataclass(frozen=True)
class ProjectState:
    status: str
    reason: Mapping[str, Any]


def status_of(members: Sequence[Mapping[str, Any]], closing: Mapping[str, Any] | None) -> ProjectState:
    """The project's status and why, from its members' answers and its closing."""
    if closing is not None:
        outcome = str(closing["outcome"])
        return ProjectState(outcome, {"code": f"project_{outcome}", "params": {}})
    joined_kinds = sorted({str(m["kind"]) for m in members if m["answer"] == "joined"})
    if len(joined_kinds) >= 2:
        return ProjectState("active", {"code": "project_active", "params": {}})
    pending = [str(m["organisation_id"]) for m in members if m["answer"] == "pending"]
    if pending:
        return ProjectState("proposed", {"code": "project_waiting", "params": {"pending": pending}})
    return ProjectState("proposed", {"code": "project_one_kind", "params": {"kinds": joined_kinds}})


def _member(members: Sequence[Mapping[str, Any]], organisation_id: str) -> Mapping[str, Any]:
    for member in members:
        if member["organisation_id"] == organisation_id:
            return member
    raise RuleBroken(f"organisation {organisation_id} is not a member of the project", "organisation_id")


def check_answer(status: str, members: Sequence[Mapping[str, Any]], organisation_id: str) -> None:
    if status in CLOSED:
        raise RuleBroken(f"the project is {status}", "project_id")
    member = _member(members, organisation_id)
    if member["answer"] != "pending":
        raise RuleBroken(
            f"organisation {organisation_id} has answered already ({member['answer']})", "answer"
        )


def check_progress(
    status: str,
    members: Sequence[Mapping[str, Any]],
    milestones: Sequence[Mapping[str, Any]],
    organisation_id: str,
    milestone_id: str,
) -> Mapping[str, Any]:
    """The milestone a joined member of an active project may report on."""
    if status != "active":
        raise RuleBroken(f"the project is {status}: progress is reported on an active project", "project_id")
    if _member(members, organisation_id)["answer"] != "joined":
        raise RuleBroken(f"organisation {organisation_id} has not joined the project", "organisation_id")
    for milestone in milestones:
        if milestone["milestone_id"] == milestone_id:
            if milestone["status"] == "done":
                raise RuleBroken(f"milestone {milestone_id} is done", "milestone_id")
            return milestone
    raise RuleBroken(f"the project has no milestone {milestone_id!r}", "milestone_id")


def after_progress(milestone: Mapping[str, Any], report: Mapping[str, Any]) -> dict[str, Any]:
    """The milestone with ``report`` added; an overdue one stays overdue until done."""
    status = str(report["status"])
    if milestone["status"] == "overdue" and status != "done":
        status = "overdue"
    return {**milestone, "status": status, "progress": [*milestone["progress"], dict(report)]}


def check_close(status: str, lead: str, organisation_id: str) -> None:
    if status in CLOSED:
        raise RuleBroken(f"the project is {status} already", "project_id")
    if organisation_id != lead:
        raise RuleBroken("only the project's lead closes it", "organisation_id")


def overdue(status: str, milestones: Sequence[Mapping[str, Any]], today: date) -> list[str]:
    """The milestones of an active project that fall overdue on ``today``."""
    if status != "active":
        return []
    return [
        str(m["milestone_id"])
        for m in milestones
        if m["status"] in MILESTONE_OPEN and date.fromisoformat(str(m["due_date"])) < today
    ]


def next_due(milestones: Sequence[Mapping[str, Any]]) -> date | None:
    """The earliest due date of the milestones not done nor overdue yet."""
    dates = [date.fromisoformat(str(m["due_date"])) for m in milestones if m["status"] in MILESTONE_OPEN]
    return min(dates, default=None)
