"""The handlers of mediation: a community's dispute (kept for the agenda and opened for
mediation), the coordinator's choice of mediator, the parties' statements and answers, and the
mediator's settlements and its declaration that the mediation failed."""

from pydantic import BaseModel

from services.coordinator.bus import Applied, Command, CommandBody, CommandHandler, EventHandler, UnitOfWork
from services.coordinator.mediation import service
from services.coordinator.mediation.commands import AssignMediator
from services.coordinator.meetings import sources
from shared.events.data import (
    DisputeRaised,
    MediationEnded,
    SettlementAnswered,
    SettlementProposed,
    StatementGiven,
)

__all__ = ["COMMAND_HANDLERS", "EVENT_HANDLERS"]


def dispute_raised(event: Applied[DisputeRaised], uow: UnitOfWork) -> None:
    """Open the dispute for mediation and keep its agenda item; checked before either is made."""
    service.check_new_dispute(uow.session, event.data)
    sources.raise_agenda_item(
        uow.session, event.data, fallback_region=event.envelope.region, at=event.envelope.time
    )
    service.open_dispute(uow.session, event.data, event.envelope.time)


def statement_given(event: Applied[StatementGiven], uow: UnitOfWork) -> None:
    service.give_statement(uow.session, event.data, event.envelope.time)


def settlement_proposed(event: Applied[SettlementProposed], uow: UnitOfWork) -> None:
    service.propose_settlement(uow.session, event.data, event.envelope.time)


def settlement_answered(event: Applied[SettlementAnswered], uow: UnitOfWork) -> None:
    service.answer_settlement(uow.session, event.data, event.envelope.time)


def mediation_ended(event: Applied[MediationEnded], uow: UnitOfWork) -> None:
    service.end_mediation(uow.session, event.data, event.envelope.time)


def assign_mediator(command: Command[AssignMediator], uow: UnitOfWork) -> str:
    return service.assign_mediator(
        uow.session, command.target, command.body.mediator_organisation_id, command.coordinator, command.at
    ).id


EVENT_HANDLERS: dict[type[BaseModel], EventHandler] = {
    DisputeRaised: dispute_raised,
    StatementGiven: statement_given,
    SettlementProposed: settlement_proposed,
    SettlementAnswered: settlement_answered,
    MediationEnded: mediation_ended,
}
COMMAND_HANDLERS: dict[type[CommandBody], CommandHandler] = {AssignMediator: assign_mediator}
