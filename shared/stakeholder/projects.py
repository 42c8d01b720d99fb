"""Cross-sector projects as a stakeholder service sees them: the projects concerning its
organisations (as members, or as owners of a fund a budget line draws on), kept from the
coordinator's ``project.updated`` events; and what a member does — propose a project it leads,
join or decline one, report on a milestone, close one it leads — each sent to the coordinator
as an event through the outbox. Each request is checked first against the project's last
known state with the same rules the coordinator applies (``shared.project_rules``)."""

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from shared import project_rules as rules
from shared.app import UowDep
from shared.errors import InvalidInput
from shared.events.data import (
    BudgetLine,
    MilestonePlan,
    ProjectAnswered,
    ProjectClosed,
    ProjectData,
    ProjectMember,
    ProjectProgressed,
    ProjectProposed,
    RegionCode,
)
from shared.events.envelope import new_event_id
from shared.events.validation import CheckedEvent
from shared.messaging.consumer import Delivery
from shared.reasons import LANGUAGES, render_reason
from shared.rule_errors import obeying
from shared.stakeholder.models import CoordinatorNotice, Organisation
from shared.stakeholder.notices import keep_whole_state, notices_of, own_notice
from shared.stakeholder.service import emit
from shared.stakeholder.views import CurrentOrg

__all__ = ["apply_project_event", "projects_router"]


def apply_project_event(session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
    """Keep the coordinator's state of each project that concerns one of our organisations."""
    data = checked.data
    if isinstance(data, ProjectData):
        keep_whole_state(session, checked, "project", data.project_id, data.concerns, data.version)


class MilestoneCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=200)]
    due_date: date


class ProjectCreate(BaseModel):
    """A project the calling organisation proposes and leads; the other members are asked."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=5000)] = ""
    region: RegionCode | None = Field(default=None, description="default: the organisation's region")
    role: Annotated[str, Field(min_length=1, max_length=100)] = Field(description="the lead's own role")
    members: list[ProjectMember] = Field(min_length=1, max_length=19, description="the other members")
    milestones: list[MilestoneCreate] = Field(min_length=1, max_length=20)
    budget_lines: list[BudgetLine] = Field(default_factory=list, max_length=30)


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: Literal["join", "decline"]
    reason: Annotated[str, Field(max_length=1000)] = ""


class MilestoneReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    milestone_id: str
    status: Literal["in_progress", "done", "blocked"]
    note: Annotated[str, Field(max_length=2000)] = ""
    evidence_url: Annotated[str, Field(max_length=500)] = ""


class Closing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["completed", "abandoned"]
    report: Annotated[str, Field(min_length=1, max_length=20000)] = Field(description="the closing report")
    evidence_url: Annotated[str, Field(max_length=500)] = ""


class ProjectView(ProjectData):
    """A project concerning the calling organisation, with why it is in its status (zh and en)
    and the caller's own place in it."""

    model_config = ConfigDict(extra="ignore", frozen=False)

    status_text: dict[str, str] = Field(description="status_reason rendered in zh and en")
    my_role: str | None = Field(description="the caller's role, if it is a member")
    my_answer: str | None = Field(description="pending, joined or declined, if it is a member")


def _view(notice: CoordinatorNotice, org: Organisation) -> ProjectView:
    state = notice.state
    mine = next((m for m in state["members"] if m["organisation_id"] == org.id), None)
    return ProjectView.model_validate(
        state
        | {
            "status_text": {lang: render_reason(state["status_reason"], lang) for lang in LANGUAGES},
            "my_role": mine["role"] if mine else None,
            "my_answer": mine["answer"] if mine else None,
        }
    )


def _proposal(**fields: Any) -> ProjectProposed:
    """The proposal event; a rule of the plan it breaks (a member named twice, two budget lines
    with one key) is a 422 naming the field."""
    try:
        return ProjectProposed(**fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "body"
        raise InvalidInput(f"{field}: {error['msg']}", field=field) from None


def projects_router() -> APIRouter:
    router = APIRouter(tags=["projects"])

    @router.post(
        "/projects",
        status_code=status.HTTP_202_ACCEPTED,
        summary="Propose a cross-sector project this organisation leads",
    )
    def propose(body: ProjectCreate, uow: UowDep, org: CurrentOrg) -> ProjectProposed:
        if org.id in {m.organisation_id for m in body.members}:
            raise InvalidInput(
                "name the other members: the caller leads and is a member already", field="members"
            )
        members = [ProjectMember(organisation_id=org.id, role=body.role), *body.members]
        event = _proposal(
            project_id=new_event_id(),
            organisation_id=org.id,
            title=body.title,
            description=body.description,
            region=body.region or org.region,
            members=members,
            milestones=[
                MilestonePlan(milestone_id=f"m{k}", title=m.title, due_date=m.due_date)
                for k, m in enumerate(body.milestones, start=1)
            ],
            budget_lines=body.budget_lines,
        )
        emit(uow.session, org, "project", "proposed", event, region=event.region)
        uow.commit()
        return event

    @router.get("/projects", summary="Cross-sector projects concerning this organisation")
    def list_projects(uow: UowDep, org: CurrentOrg) -> list[ProjectView]:
        return [_view(row, org) for row in notices_of(uow.session, org, "project")]

    @router.get("/projects/{project_id}", summary="One project concerning this organisation")
    def get_project(project_id: str, uow: UowDep, org: CurrentOrg) -> ProjectView:
        return _view(own_notice(uow.session, org, "project", project_id), org)

    @router.post(
        "/projects/{project_id}/answer",
        status_code=status.HTTP_202_ACCEPTED,
        summary="Join a project this organisation is invited to, or decline",
    )
    def answer(project_id: str, body: Answer, uow: UowDep, org: CurrentOrg) -> ProjectAnswered:
        notice = own_notice(uow.session, org, "project", project_id)
        obeying(lambda: rules.check_answer(notice.state["status"], notice.state["members"], org.id))
        event = ProjectAnswered(
            project_id=project_id, organisation_id=org.id, answer=body.answer, reason=body.reason
        )
        emit(uow.session, org, "project", "answered", event, region=notice.region or org.region)
        uow.commit()
        return event

    @router.post(
        "/projects/{project_id}/progress",
        status_code=status.HTTP_202_ACCEPTED,
        summary="Report on a milestone (status, note, evidence link)",
    )
    def progress(project_id: str, body: MilestoneReport, uow: UowDep, org: CurrentOrg) -> ProjectProgressed:
        notice = own_notice(uow.session, org, "project", project_id)
        state = notice.state
        obeying(
            lambda: rules.check_progress(
                state["status"], state["members"], state["milestones"], org.id, body.milestone_id
            )
        )
        event = ProjectProgressed(
            progress_id=new_event_id(),
            project_id=project_id,
            organisation_id=org.id,
            milestone_id=body.milestone_id,
            status=body.status,
            note=body.note,
            evidence_url=body.evidence_url,
        )
        emit(uow.session, org, "project", "progressed", event, region=notice.region or org.region)
        uow.commit()
        return event

    @router.post(
        "/projects/{project_id}/close",
        status_code=status.HTTP_202_ACCEPTED,
        summary="Close a project this organisation leads, with the closing report",
    )
    def close(project_id: str, body: Closing, uow: UowDep, org: CurrentOrg) -> ProjectClosed:
        notice = own_notice(uow.session, org, "project", project_id)
        obeying(
            lambda: rules.check_close(notice.state["status"], notice.state["lead_organisation_id"], org.id)
        )
        event = ProjectClosed(
            project_id=project_id,
            organisation_id=org.id,
            outcome=body.outcome,
            report=body.report,
            evidence_url=body.evidence_url,
        )
        emit(uow.session, org, "project", "closed", event, region=notice.region or org.region)
        uow.commit()
        return event

    return router
