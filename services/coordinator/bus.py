"""One way in: every command and every event the coordinator applies goes to one handler.

The entry points only build messages. HTTP views and dashboard forms build a typed **command**
(a :class:`CommandBody` with what it acts on, who asks and when: :class:`Command`), which travels
through the stream as an ``instruction.issued`` event (``instructions.py``); the clock publishes
``clock.ticked``; the projection hands over each party's event once what it builds on has been
applied (:class:`Applied`). The :class:`MessageBus` maps each message type to its handler,
called as ``handler(message, uow)``. Handlers change state in the unit of work's session and
publish through the outbox in the same transaction; whoever owns the transaction commits it
(the consumer, with its inbox row). The handlers are wired in ``bootstrap.py``.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.orm import Session

from services.coordinator.journal.service import Cause
from shared.errors import InvalidInput
from shared.events.data import InstructionAction, InstructionIssued
from shared.events.envelope import CloudEvent

__all__ = [
    "Applied",
    "Command",
    "CommandBody",
    "CommandHandler",
    "EventHandler",
    "InTransaction",
    "MessageBus",
    "UnitOfWork",
]

D = TypeVar("D", bound=BaseModel)
B = TypeVar("B", bound="CommandBody")


class UnitOfWork(Protocol):
    """What a handler gets: the session of the one transaction it works in."""

    session: Session


@dataclass
class InTransaction:
    """The unit of work of a message applied in a transaction its caller owns and commits."""

    session: Session


class CommandBody(BaseModel):
    """What a coordinator asks for, as typed input (the JSON body of an API call or a form)."""

    model_config = ConfigDict(extra="forbid")
    action: ClassVar[InstructionAction]

    def instruction_reason(self) -> str:
        """The instruction's ``reason`` field (most commands carry everything in ``arguments``)."""
        return ""

    @classmethod
    def from_instruction(cls, data: InstructionIssued) -> "CommandBody":
        return cls.model_validate(data.arguments)


@dataclass(frozen=True)
class Command(Generic[B]):
    """A command with its context: what it acts on (a match, series or meeting; empty for a
    new series), which coordinator asked, and the instant it takes effect."""

    body: B
    target: str
    coordinator: str
    at: datetime


@dataclass(frozen=True)
class Applied(Generic[D]):
    """An event from the stream being applied: its data, its envelope, its verb and the cause
    that everything it sets off derives from."""

    data: D
    envelope: CloudEvent
    verb: str
    cause: Cause

    @property
    def publisher(self) -> str:
        """The organisation that published it."""
        return self.envelope.source_org


EventHandler = Callable[[Applied[Any], UnitOfWork], None]
CommandHandler = Callable[[Command[Any], UnitOfWork], str]


class MessageBus:
    """Maps each event data type and each command body type to its one handler."""

    def __init__(
        self,
        events: Mapping[type[BaseModel], EventHandler],
        commands: Mapping[type[CommandBody], CommandHandler],
    ) -> None:
        self.events = dict(events)
        self.commands = dict(commands)
        self.bodies: dict[str, type[CommandBody]] = {body.action: body for body in commands}

    def handle(self, message: Applied[Any] | Command[Any], uow: UnitOfWork) -> str | None:
        """Hand ``message`` to its handler; a command's handler returns the id of what it made
        or changed. Events without a handler (the services' own entity events) are only logged."""
        if isinstance(message, Command):
            handler = self.commands.get(type(message.body))
            if handler is None:
                raise TypeError(f"no handler for {type(message.body).__name__}")
            return handler(message, uow)
        event_handler = self.events.get(type(message.data))
        if event_handler is not None:
            event_handler(message, uow)
        return None

    def command_of(self, data: InstructionIssued) -> Command[Any]:
        """The typed command an instruction from the stream carries."""
        body_type = self.bodies[data.action]
        try:
            body = body_type.from_instruction(data)
        except ValidationError as exc:
            raise InvalidInput(f"the {data.action} instruction carries a bad command: {exc}") from exc
        return Command(body, data.target, data.coordinator, data.at)
