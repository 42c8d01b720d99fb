"""Keeping cross-sector projects: proposals by a party or decisions of a joint meeting, the
members' answers, progress on milestones, closing, milestones falling overdue at the clock's
tick, and the budget lines' funding from special funds. Every change publishes the project's
whole state (``project.updated``, or ``project.overdue``) as its next version, under the cause
being applied, so a replay publishes the same."""

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from services.coordinator.funds.models import LedgerAllocation, LedgerFund
from services.coordinator.journal.service import publish
from services.coordinator.projects.models import Project
from services.coordinator.registry.models import RegisteredOrganisation
from shared import project_rules as rules
from shared.errors import Conflict, InvalidInput, NotFound
from shared.events.data import (
    BudgetLine,
    ProjectAnswered,
    ProjectClosed,
    ProjectData,
    ProjectPlan,
    ProjectProgressed,
    ProjectProposed,
)
from shared.rule_errors import obeying

__all__ = [
    "answer",
    "close",
    "funding_room",
    "get_project",
    "mark_overdue",
    "overdue_milestones_query",
    "project_data",
    "projects_naming_fund",
    "propose",
    "publish_project",
    "report_progress",
    "start_decided",
]

CENTS = Decimal("0.01")
PUBLISHED_REPORTS = 3
BUDGET_LINE_FIELDS = tuple(
    BudgetLine.model_fields
)  # a milestone's latest progress reports published with the project


def overdue_milestones_query(today: date) -> Select[str]:
    """Active projects with a milestone past its date unfinished (the clock ticks for them)."""
    return select(Project.id).where(Project.status == "active", Project.next_due < today)


def get_project(session: Session, project_id: str) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"no project {project_id!r}", field="project_id")
    return project


def _line_funding(session: Session, project: Project) -> dict[str, tuple[Decimal, Decimal]]:
    """Per budget line: what allocations hold of it and what they paid out (yuan)."""
    rows = session.execute(
        select(
            LedgerAllocation.budget_line,
            func.sum(LedgerAllocation.held()),
            func.sum(LedgerAllocation.disbursed - LedgerAllocation.repaid),
        )
        .where(LedgerAllocation.project_id == project.id)
        .group_by(LedgerAllocation.budget_line)
    )
    return {
        str(line): (Decimal(held or 0).quantize(CENTS), Decimal(paid or 0).quantize(CENTS))
        for line, held, paid in rows
    }


def project_data(session: Session, project: Project) -> ProjectData:
    funding = _line_funding(session, project)
    lines = [
        line
        | dict(
            zip(
                ("allocated", "paid"),
                map(str, funding.get(line["line"], (Decimal("0.00"),) * 2)),
                strict=True,
            )
        )
        for line in project.budget_lines
    ]
    concerns = {m["organisation_id"] for m in project.members} | {
        line["fund_organisation_id"] for line in project.budget_lines if line.get("fund_organisation_id")
    }
    return ProjectData(
        project_id=project.id,
        title=project.title,
        description=project.description,
        region=project.region,
        lead_organisation_id=project.lead_organisation_id,
        origin=project.origin,
        status=project.status,
        status_reason=project.status_reason,
        members=project.members,
        milestones=[  # the latest reports: the event stays small however long a project runs
            m | {"progress": m["progress"][-PUBLISHED_REPORTS:], "progress_count": len(m["progress"])}
            for m in project.milestones
        ],
        budget_lines=lines,
        closing=project.closing,
        concerns=sorted(concerns),
        version=project.version,
    )


def publish_project(session: Session, project: Project, verb: str = "updated") -> None:
    """Publish the project's new state as its next version."""
    state = rules.status_of(project.members, project.closing)
    project.status, project.status_reason = state.status, dict(state.reason)
    if any(line.get("fund_id") and not line.get("fund_organisation_id") for line in project.budget_lines):
        # a fund named before it reached this coordinator: known by now, perhaps
        project.budget_lines = [
            _budget_line(session, BudgetLine.model_validate({k: line[k] for k in BUDGET_LINE_FIELDS}))
            for line in project.budget_lines
        ]
    project.next_due = rules.next_due(project.milestones)
    project.version += 1
    session.flush()
    publish(
        session,
        f"sifang.project.{verb}.v1",
        project_data(session, project),
        project.region,
        id_parts=("project", verb, project.id, str(project.version)),
    )


def _budget_line(session: Session, line: BudgetLine) -> dict[str, Any]:
    """A budget line as kept, with whether the fund it names is known (shown to the parties)."""
    kept: dict[str, Any] = line.model_dump(mode="json")
    if line.fund_id is None:
        return kept | {"fund_organisation_id": None, "fund_status": None}
    fund = session.get(LedgerFund, line.fund_id)
    if fund is None:
        status = {"code": "line_fund_unknown", "params": {"fund_id": line.fund_id}}
        return kept | {"fund_organisation_id": None, "fund_status": status}
    if line.share not in {share.share for share in fund.shares}:
        status = {"code": "line_share_unknown", "params": {"share": line.share}}
    else:
        status = {"code": "line_fund_ok", "params": {"share": line.share}}
    return kept | {"fund_organisation_id": fund.organisation_id, "fund_status": status}


def _member(session: Session, organisation_id: str, role: str, answer: str) -> dict[str, Any]:
    org = session.get(RegisteredOrganisation, organisation_id)
    return {
        "organisation_id": organisation_id,
        "kind": org.kind if org is not None else "unregistered",
        "role": role,
        "answer": answer if org is not None else "unregistered",
        "reason": "",
    }


def _new_project(
    session: Session,
    project_id: str,
    plan: ProjectPlan,
    lead: str,
    members: list[dict[str, Any]],
    origin: dict[str, Any],
    at: datetime,
) -> Project:
    if session.get(Project, project_id) is not None:
        raise Conflict(f"project {project_id} exists already", field="project_id")
    project = Project(
        id=project_id,
        title=plan.title,
        description=plan.description,
        region=plan.region,
        lead_organisation_id=lead,
        origin=origin,
        series_id=origin.get("series_id"),
        status="proposed",
        status_reason={},
        members=members,
        milestones=[{**m.model_dump(mode="json"), "status": "open", "progress": []} for m in plan.milestones],
        budget_lines=[_budget_line(session, line) for line in plan.budget_lines],
        closing=None,
        created_at=at,
        updated_at=at,
        version=0,
    )
    session.add(project)
    publish_project(session, project)
    return project


def propose(session: Session, data: ProjectProposed, at: datetime) -> Project:
    """A party's proposal: it leads and has joined; the others are asked."""
    if data.organisation_id not in {m.organisation_id for m in data.members}:
        raise InvalidInput("the lead is one of the members", field="members")
    members = [
        _member(
            session,
            m.organisation_id,
            m.role,
            "joined" if m.organisation_id == data.organisation_id else "pending",
        )
        for m in data.members
    ]
    return _new_project(session, data.project_id, data, data.organisation_id, members, {"kind": "party"}, at)


def start_decided(
    session: Session, project_id: str, plan: ProjectPlan, origin: dict[str, Any], at: datetime
) -> Project:
    """A project a joint meeting decided: its members, named in the decision, have joined; the
    first leads. Every member is registered and they span two kinds at least."""
    members = [_member(session, m.organisation_id, m.role, "joined") for m in plan.members]
    unknown = [m["organisation_id"] for m in members if m["answer"] == "unregistered"]
    if unknown:
        raise InvalidInput(f"not registered organisations: {', '.join(unknown)}", field="projects.members")
    if len({m["kind"] for m in members}) < 2:
        raise InvalidInput(
            "a cross-sector project has members of two kinds at least", field="projects.members"
        )
    return _new_project(session, project_id, plan, members[0]["organisation_id"], members, origin, at)


def answer(session: Session, data: ProjectAnswered, at: datetime) -> Project:
    project = get_project(session, data.project_id)
    obeying(lambda: rules.check_answer(project.status, project.members, data.organisation_id))
    given = "joined" if data.answer == "join" else "declined"
    project.members = [
        m | {"answer": given, "reason": data.reason} if m["organisation_id"] == data.organisation_id else m
        for m in project.members
    ]
    project.updated_at = at
    publish_project(session, project)
    return project


def report_progress(session: Session, data: ProjectProgressed, at: datetime) -> Project:
    project = get_project(session, data.project_id)
    milestone = obeying(
        lambda: rules.check_progress(
            project.status, project.members, project.milestones, data.organisation_id, data.milestone_id
        )
    )
    report = {
        "progress_id": data.progress_id,
        "organisation_id": data.organisation_id,
        "status": data.status,
        "note": data.note,
        "evidence_url": data.evidence_url,
        "at": at.isoformat(),
    }
    changed = rules.after_progress(milestone, report)
    project.milestones = [
        changed if m["milestone_id"] == data.milestone_id else m for m in project.milestones
    ]
    project.updated_at = at
    publish_project(session, project)
    return project


def close(session: Session, data: ProjectClosed, at: datetime) -> Project:
    project = get_project(session, data.project_id)
    obeying(lambda: rules.check_close(project.status, project.lead_organisation_id, data.organisation_id))
    project.closing = {
        "outcome": data.outcome,
        "report": data.report,
        "evidence_url": data.evidence_url,
        "at": at.isoformat(),
    }
    project.updated_at = at
    publish_project(session, project)
    return project


def mark_overdue(session: Session, today: date) -> list[Project]:
    """Milestones of active projects past their due date fall overdue (at the clock's tick)."""
    changed = []
    due_projects = select(Project).where(Project.id.in_(overdue_milestones_query(today))).order_by(Project.id)
    for project in session.scalars(due_projects):
        due = set(rules.overdue(project.status, project.milestones, today))
        if not due:
            continue
        project.milestones = [
            m | {"status": "overdue"} if m["milestone_id"] in due else m for m in project.milestones
        ]
        publish_project(session, project, "overdue")
        changed.append(project)
    return changed


def projects_naming_fund(session: Session, fund_id: str) -> list[Project]:
    """Projects with a budget line naming ``fund_id`` whose owner they do not know yet."""
    candidates = session.scalars(
        select(Project).where(Project.status.in_(("proposed", "active"))).order_by(Project.id)
    )
    return [
        p
        for p in candidates
        if any(
            line.get("fund_id") == fund_id and not line.get("fund_organisation_id") for line in p.budget_lines
        )
    ]


def funding_room(session: Session, project_id: str, line_key: str, fund_id: str, share: str) -> Decimal:
    """What an allocation from ``fund_id``'s ``share`` may still give the project's budget line;
    refuses a line that does not draw on that share. Only what cannot change is checked (the
    line, its fund and share, what allocations hold of it): the bureau checked the project's
    status against the copy it had, and a later close must not split the two ledgers."""
    project = get_project(session, project_id)  # its status may have moved on since the bureau looked
    lines: Sequence[dict[str, Any]] = [line for line in project.budget_lines if line["line"] == line_key]
    if not lines:
        raise InvalidInput(f"project {project_id} has no budget line {line_key!r}", field="budget_line")
    line = lines[0]
    if (line.get("fund_id"), line.get("share")) != (fund_id, share):
        raise InvalidInput(
            f"budget line {line_key!r} draws on fund {line.get('fund_id')} share {line.get('share')}, "
            f"not on fund {fund_id} share {share}",
            field="budget_line",
        )
    held, _ = _line_funding(session, project).get(line_key, (Decimal(0), Decimal(0)))
    return Decimal(line["amount"]) - held
