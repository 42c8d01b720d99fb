"""The handlers of cross-sector projects: the parties' proposals, answers, progress reports
and closings (a joint meeting's decision starts projects through the meetings' handlers)."""

from pydantic import BaseModel

from services.coordinator.bus import Applied, EventHandler, UnitOfWork
from services.coordinator.projects import service
from shared.events.data import ProjectAnswered, ProjectClosed, ProjectProgressed, ProjectProposed

__all__ = ["EVENT_HANDLERS"]


def project_proposed(event: Applied[ProjectProposed], uow: UnitOfWork) -> None:
    service.propose(uow.session, event.data, event.envelope.time)


def project_answered(event: Applied[ProjectAnswered], uow: UnitOfWork) -> None:
    service.answer(uow.session, event.data, event.envelope.time)


def project_progressed(event: Applied[ProjectProgressed], uow: UnitOfWork) -> None:
    service.report_progress(uow.session, event.data, event.envelope.time)


def project_closed(event: Applied[ProjectClosed], uow: UnitOfWork) -> None:
    service.close(uow.session, event.data, event.envelope.time)


EVENT_HANDLERS: dict[type[BaseModel], EventHandler] = {
    ProjectProposed: project_proposed,
    ProjectAnswered: project_answered,
    ProjectProgressed: project_progressed,
    ProjectClosed: project_closed,
}
