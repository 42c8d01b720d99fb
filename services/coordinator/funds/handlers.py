"""The handlers of the funds: each entry of a government organisation's fund ledger."""

from pydantic import BaseModel

from services.coordinator.bus import Applied, EventHandler, UnitOfWork
from services.coordinator.funds import service
from shared.events.data import FundAllocated, FundDisbursed, FundOpened, FundReturned, FundTrancheReceived

__all__ = ["EVENT_HANDLERS"]


def fund_opened(event: Applied[FundOpened], uow: UnitOfWork) -> None:
    service.open_fund(uow.session, event.data, event.envelope.time)


def fund_entry(event: Applied[service.FundEntryData], uow: UnitOfWork) -> None:
    service.follow_entry(uow.session, event.data)


EVENT_HANDLERS: dict[type[BaseModel], EventHandler] = {
    FundOpened: fund_opened,
    FundTrancheReceived: fund_entry,
    FundAllocated: fund_entry,
    FundDisbursed: fund_entry,
    FundReturned: fund_entry,
}
