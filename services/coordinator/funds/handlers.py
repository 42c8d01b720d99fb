"""The handlers of the funds: each entry of a government organisation's fund ledger. An
allocation to a cross-sector project's budget line is checked against the line (it draws on
that fund's share, and never beyond the line's amount), and the project's state is published
again whenever money of one of its lines moves."""

from pydantic import BaseModel

from services.coordinator.bus import Applied, EventHandler, UnitOfWork
from services.coordinator.funds import service
from services.coordinator.funds.models import LedgerAllocation
from services.coordinator.projects import service as projects
from shared.errors import Conflict, InvalidInput
from shared.events.data import FundAllocated, FundDisbursed, FundOpened, FundReturned, FundTrancheReceived

__all__ = ["EVENT_HANDLERS"]


def fund_opened(event: Applied[FundOpened], uow: UnitOfWork) -> None:
    """The fund's ledger opens; projects whose budget named it before are told who owns it."""
    service.open_fund(uow.session, event.data, event.envelope.time)
    uow.session.flush()
    for project in projects.projects_naming_fund(uow.session, event.data.fund_id):
        projects.publish_project(uow.session, project)


def _project_of(event: Applied[service.FundEntryData], uow: UnitOfWork) -> str | None:
    """The project whose budget line the entry moves money of, checked first for an allocation."""
    data = event.data
    if isinstance(data, FundAllocated):
        if not data.project_id:
            if data.budget_line:
                raise InvalidInput("a budget line belongs to a project: name project_id", field="project_id")
            return None
        if not data.budget_line:
            raise InvalidInput("name the project's budget line the allocation funds", field="budget_line")
        room = projects.funding_room(uow.session, data.project_id, data.budget_line, data.fund_id, data.share)
        if data.amount > room:
            raise Conflict(
                f"budget line {data.budget_line!r} of project {data.project_id} can take {room:,.2f} yuan "
                f"more, not {data.amount:,.2f}",
                field="amount",
            )
        return data.project_id
    if isinstance(data, FundDisbursed | FundReturned):
        allocation = uow.session.get(LedgerAllocation, data.allocation_id)
        return allocation.project_id if allocation is not None else None
    return None


def fund_entry(event: Applied[service.FundEntryData], uow: UnitOfWork) -> None:
    project_id = _project_of(event, uow)
    service.follow_entry(uow.session, event.data)
    if project_id is not None:
        uow.session.flush()
        projects.publish_project(uow.session, projects.get_project(uow.session, project_id))


EVENT_HANDLERS: dict[type[BaseModel], EventHandler] = {
    FundOpened: fund_opened,
    FundTrancheReceived: fund_entry,
    FundAllocated: fund_entry,
    FundDisbursed: fund_entry,
    FundReturned: fund_entry,
}
