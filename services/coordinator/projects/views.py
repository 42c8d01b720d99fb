"""The coordinator's API for cross-sector projects (scope ``read:meetings``): the projects, one
project with its members, milestones, budget and closing. Parties propose, answer, report and
close through their own services; a joint meeting's decision starts projects too
(``POST /meetings/{id}/decisions`` with ``projects``)."""

from typing import Annotated

from fastapi import APIRouter, Query

from services.coordinator.access.dependencies import require
from services.coordinator.book.views import Region
from services.coordinator.projects import queries
from services.coordinator.projects.service import get_project, project_data
from shared.app import UowDep
from shared.events.data import ProjectData

__all__ = ["router"]

router = APIRouter(tags=["projects"])
READ = require("read:meetings")

Status = Annotated[str | None, Query(pattern="^(proposed|active|completed|abandoned)$")]


@router.get(
    "/projects", dependencies=[READ], response_model=list[ProjectData], summary="Cross-sector projects"
)
def list_projects(
    uow: UowDep, status: Status = None, organisation_id: str | None = None, region: Region = None
) -> list[ProjectData]:
    rows = queries.projects(uow.session, status=status, organisation_id=organisation_id, region=region)
    return [project_data(uow.session, project) for project in rows]


@router.get("/projects/{project_id}", dependencies=[READ], response_model=ProjectData, summary="One project")
def get_one(project_id: str, uow: UowDep) -> ProjectData:
    return project_data(uow.session, get_project(uow.session, project_id))
