"""The one place that wires the coordinator's messages to their handlers.

Read the tables below to see where each event and each command goes: the registry takes
registrations; the book and the matches take needs, offers and the parties' answers; the
meetings take agenda proposals, replies, progress and approvals and every step of
running a meeting; the funds take each entry of a fund's ledger; the projects take the
parties' proposals, answers, progress and closings; mediation takes disputes, the
mediator's and the parties' steps and the choice of a mediator; the clock's tick runs the
work that falls due; an instruction carries a coordinator's command, handed to that command's
handler.
"""

from datetime import timedelta
from functools import partial

from pydantic import BaseModel

from services.coordinator.bus import (
    Applied,
    CommandBody,
    CommandHandler,
    EventHandler,
    InTransaction,
    MessageBus,
    UnitOfWork,
)
from services.coordinator.clock import clock_ticked
from services.coordinator.funds import handlers as fund_handlers
from services.coordinator.matches import handlers as match_handlers
from services.coordinator.matches.service import MatchPolicy
from services.coordinator.mediation import handlers as mediation_handlers
from services.coordinator.meetings import handlers as meeting_handlers
from services.coordinator.projects import handlers as project_handlers
from services.coordinator.registry import handlers as registry_handlers
from shared.events.data import ClockTicked, InstructionIssued

__all__ = ["InTransaction", "build_bus"]


def build_bus(policy: MatchPolicy, consumer: str, hold_timeout: timedelta) -> MessageBus:
    """The coordinator's bus under ``policy``, for the consumer (and clock) named ``consumer``."""
    events: dict[type[BaseModel], EventHandler] = {
        **registry_handlers.EVENT_HANDLERS,
        **match_handlers.event_handlers(policy),
        **meeting_handlers.EVENT_HANDLERS,
        **fund_handlers.EVENT_HANDLERS,
        **project_handlers.EVENT_HANDLERS,
        **mediation_handlers.EVENT_HANDLERS,
        ClockTicked: partial(clock_ticked, policy=policy, consumer=consumer, hold_timeout=hold_timeout),
    }
    commands: dict[type[CommandBody], CommandHandler] = {
        **match_handlers.command_handlers(policy),
        **meeting_handlers.COMMAND_HANDLERS,
        **mediation_handlers.COMMAND_HANDLERS,
    }
    bus = MessageBus(events, commands)

    def instruction_issued(event: Applied[InstructionIssued], uow: UnitOfWork) -> None:
        bus.handle(bus.command_of(event.data), uow)

    bus.events[InstructionIssued] = instruction_issued
    return bus
