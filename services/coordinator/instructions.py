"""A coordinator's command, from an HTTP view or a dashboard form to its effect.

A command is not applied where it is asked for. :func:`carry_out` first runs its handler
against the current state in a transaction it rolls back — so a refusal comes back at once,
with its field, to the API and to the dashboard alike — then puts it on the stream as an
``instruction.issued`` event and waits until the coordinator's consumer has applied it (the
bus hands it to the same handler). The coordinator's state is therefore rebuilt by a replay
of the stream like everything else, ids and times included: both derive from the instruction.
"""

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.coordinator.bootstrap import build_bus
from services.coordinator.bus import Command, CommandBody
from services.coordinator.journal.service import Cause, begin_cause, end_cause, publish
from services.coordinator.matches.models import Match
from services.coordinator.mediation.service import get_dispute
from services.coordinator.meetings.handlers import region_of
from services.coordinator.settings import consumer_name, settings_of
from shared.app import Runtime
from shared.db import UnitOfWork, utcnow
from shared.errors import Conflict, NotFound, NotYetApplied
from shared.events.data import InstructionIssued
from shared.events.envelope import new_event_id
from shared.messaging.models import DeadLetter, InboxEntry

__all__ = ["await_instruction", "carry_out", "issue_instruction"]


def _region(session: Session, command: Command[Any]) -> str:
    """The region the instruction is published under (its subject)."""
    if command.body.action in ("withdraw_match", "nudge_match"):
        match = session.get(Match, command.target)
        if match is None:
            raise NotFound(f"no match {command.target!r}", field="match_id")
        return match.region
    if command.body.action == "assign_mediator":
        return get_dispute(session, command.target).region
    return region_of(session, command)


def carry_out(
    uow: UnitOfWork,
    runtime: Runtime,
    body: CommandBody,
    *,
    target: str = "",
    coordinator: str,
    wait: float = 10.0,
) -> str:
    """Try the command, put it on the stream, wait until it is applied; returns the id of what
    it made or changed. Raises the handler's own error (404, 409, 422) if it is refused at once,
    Conflict if the state changed so that the consumer refused it, and NotYetApplied (202) if it
    is still on its way after ``wait`` seconds."""
    settings = settings_of(runtime)
    bus = build_bus(settings.match_policy, consumer_name(settings), settings.hold_timeout)
    session = uow.session
    command = Command(body, target, coordinator, utcnow())
    instruction_id = new_event_id()
    region = _region(session, command)
    begin_cause(session, Cause(instruction_id, instruction_id, command.at))
    try:
        made = bus.handle(command, uow)  # a dry run: refusals surface here
    finally:
        end_cause(session)
        session.rollback()
    issue_instruction(session, command, region=region, instruction_id=instruction_id)
    uow.commit()
    runtime.relay.wake()
    try:
        refused = await_instruction(runtime.session_factory, consumer_name(settings), instruction_id, wait)
    except TimeoutError:
        raise NotYetApplied(
            f"instruction {instruction_id} is on the stream and takes effect when the coordinator "
            "applies it (it is busy or paused: see /healthz)"
        ) from None
    if refused is not None:
        raise Conflict(f"refused when applied: {refused.removeprefix('rejected: ')}")
    session.expire_all()
    return str(made)


def issue_instruction(
    session: Session, command: Command[Any], *, region: str, instruction_id: str | None = None
) -> str:
    """Record the command in the outbox as an ``instruction.issued`` event; it takes effect when
    consumed. Returns the event id. The caller commits (and wakes the relay)."""
    data = InstructionIssued(
        instruction_id=instruction_id or new_event_id(),
        action=command.body.action,
        target=command.target,
        coordinator=command.coordinator,
        reason=command.body.instruction_reason(),
        arguments=command.body.model_dump(mode="json"),
        at=command.at,
    )
    publish(
        session,
        "sifang.instruction.issued.v1",
        data,
        region,
        event_id=data.instruction_id,
        at=data.at,
        logged=False,
    )
    return data.instruction_id


def await_instruction(
    sessions: sessionmaker[Session],
    consumer: str,
    event_id: str,
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """Wait until the consumer has taken the instruction: None once applied, the reason if it
    was refused; raises TimeoutError if it has not come back in ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with sessions() as session:
            refused = session.scalar(
                select(DeadLetter.reason).where(
                    DeadLetter.consumer == consumer, DeadLetter.event_id == event_id
                )
            )
            if refused is not None:
                return refused
            if session.get(InboxEntry, (consumer, event_id)) is not None:
                return None
        if time.monotonic() > deadline:
            raise TimeoutError(f"instruction {event_id} not applied within {timeout} s")
        sleep(0.05)
