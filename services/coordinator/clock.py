"""The coordinator's own decisions, put on the stream before they take effect.

Nothing the coordinator decides by itself changes its state directly. The clock worker
looks, every ``expiry_check_seconds``, whether anything is due (a proposal past its answer
time, an action past its due date, a meeting past its agenda cut-off, an event held longer
than ``hold_timeout``); if so it publishes one ``clock.ticked`` event naming the instant, and
the consumer does the work when that event comes back from the stream. A coordinator's
withdrawal or nudge is published the same way as ``instruction.issued``. A replay of the
stream therefore repeats every such decision at the instant it was taken, without a clock.
"""

import asyncio
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from services.coordinator.journal.models import HeldEvent
from services.coordinator.matches.models import Match
from services.coordinator.meetings.models import ActionItem, AgendaVersion, Meeting
from shared.app import Runtime
from shared.db import utcnow
from shared.events.catalogue import CATALOGUE
from shared.events.data import ClockTicked, InstructionAction, InstructionIssued
from shared.events.envelope import derived_event_id, new_event_id
from shared.messaging.models import DeadLetter, InboxEntry, OutboxMessage
from shared.messaging.outbox import record_event

__all__ = ["CLOCK_REGION", "await_instruction", "due_work", "issue_instruction", "run_clock", "tick_if_due"]

log = logging.getLogger(__name__)

CLOCK_REGION = "000000"  # ticks belong to a coordinator, not to a region
_TICK = "sifang.clock.ticked.v1"


def due_work(session: Session, now: datetime, hold_timeout: timedelta) -> list[str]:
    """What the clock would do at ``now``, in words (empty: nothing is due)."""
    checks = {
        "proposals to expire": select(Match.id).where(Match.status == "proposed", Match.expires_at <= now),
        "actions overdue": select(ActionItem.id).where(
            ActionItem.status.in_(("open", "in_progress", "blocked")), ActionItem.due_date < now.date()
        ),
        "agendas to compile": select(Meeting.id).where(
            Meeting.status == "scheduled",
            Meeting.cutoff_at <= now,
            Meeting.id.not_in(select(AgendaVersion.meeting_id)),
        ),
        "held events past their wait": select(HeldEvent.event_id).where(
            HeldEvent.held_at <= now - hold_timeout
        ),
    }
    return [name for name, query in checks.items() if session.scalar(select(exists(query)))]


def tick_if_due(session: Session, consumer: str, now: datetime, hold_timeout: timedelta) -> str | None:
    """Record a tick for ``now`` in the outbox if work is due and no earlier tick is still on
    its way; returns its event id. The caller commits."""
    last_tick = session.scalar(
        select(OutboxMessage.event_id)
        .where(OutboxMessage.event_type == _TICK)
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )
    if last_tick is not None and session.get(InboxEntry, (consumer, last_tick)) is None:
        return None  # the previous tick has not come back yet: don't pile up ticks
    due = due_work(session, now, hold_timeout)
    if not due:
        return None
    tick_id = derived_event_id(now, "tick", consumer)
    subject, event = CATALOGUE[_TICK].build(
        kind="coordinator",
        organisation_id="coordinator",
        region=CLOCK_REGION,
        data=ClockTicked(tick_id=tick_id, coordinator=consumer, at=now),
        event_id=tick_id,
        time=now,
    )
    record_event(session, subject, event)
    log.info("clock tick %s at %s for %s", tick_id, now.isoformat(), ", ".join(due))
    return tick_id


async def run_clock(runtime: Runtime, consumer: str, every: float, hold_timeout: timedelta) -> None:
    """Every ``every`` seconds, tick if work is due (until cancelled)."""
    while True:
        try:
            ticked = await asyncio.to_thread(_tick_once, runtime, consumer, hold_timeout)
            if ticked:
                runtime.relay.wake()
        except Exception as exc:  # the database is down: the consumer reports it; try later
            log.warning("clock: %s", exc)
        await asyncio.sleep(every)


def _tick_once(runtime: Runtime, consumer: str, hold_timeout: timedelta) -> bool:
    with runtime.unit_of_work() as uow:
        tick = tick_if_due(uow.session, consumer, utcnow(), hold_timeout)
        uow.commit()
    return tick is not None


def issue_instruction(
    session: Session,
    *,
    action: InstructionAction,
    target: str,
    region: str,
    coordinator: str,
    reason: str = "",
    arguments: dict[str, Any] | None = None,
    instruction_id: str | None = None,
    at: datetime | None = None,
) -> str:
    """Record a coordinator's instruction in the outbox; it takes effect when consumed.
    Returns the event id. The caller commits (and wakes the relay)."""
    data = InstructionIssued(
        instruction_id=instruction_id or new_event_id(),
        action=action,
        target=target,
        coordinator=coordinator,
        reason=reason,
        arguments=arguments or {},
        at=at or utcnow(),
    )
    subject, event = CATALOGUE["sifang.instruction.issued.v1"].build(
        kind="coordinator",
        organisation_id="coordinator",
        region=region,
        data=data,
        event_id=data.instruction_id,
        time=data.at,
    )
    record_event(session, subject, event)
    return event.id


def await_instruction(
    sessions: sessionmaker[Session], consumer: str, event_id: str, timeout: float = 10.0
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
        time.sleep(0.05)
