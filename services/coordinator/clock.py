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
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from services.coordinator.bus import Applied, UnitOfWork
from services.coordinator.journal.holds import expire_holds
from services.coordinator.journal.models import HeldEvent
from services.coordinator.journal.service import publish
from services.coordinator.matches.models import DirtyPartition, Match
from services.coordinator.matches.service import (
    MatchPolicy,
    end_ended_windows,
    ended_proposals,
    expire_due,
    resolve_dirty,
)
from services.coordinator.mediation import service as mediation
from services.coordinator.meetings import agendas, follow_up
from services.coordinator.meetings.models import ActionItem, AgendaVersion, Meeting
from services.coordinator.projects import service as projects
from shared.app import Runtime
from shared.db import utcnow
from shared.events.data import ClockTicked
from shared.events.envelope import derived_event_id
from shared.messaging.models import InboxEntry, OutboxMessage

__all__ = ["CLOCK_REGION", "clock_ticked", "due_work", "request_resolve", "run_clock", "tick_if_due"]

log = logging.getLogger(__name__)

CLOCK_REGION = "000000"  # ticks belong to a coordinator, not to a region
_TICK = "sifang.clock.ticked.v1"


def due_work(session: Session, now: datetime, hold_timeout: timedelta) -> list[str]:
    """What the clock would do at ``now``, in words (empty: nothing is due)."""
    checks = {
        "partitions to re-solve": select(DirtyPartition.partition),
        "proposals to expire": select(Match.id).where(Match.status == "proposed", Match.expires_at <= now),
        "proposals whose window ended": ended_proposals(now.date()),
        "actions overdue": select(ActionItem.id).where(
            ActionItem.status.in_(("open", "in_progress", "blocked")), ActionItem.due_date < now.date()
        ),
        "project milestones overdue": projects.overdue_milestones_query(now.date()),
        "disputes past a time limit": mediation.disputes_due(now),
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
    if _tick_on_its_way(session, consumer):
        return None  # the previous tick has not come back yet: don't pile up ticks
    due = due_work(session, now, hold_timeout)
    if not due:
        return None
    tick_id = _publish_tick(session, consumer, now, derived_event_id(now, "tick", consumer))
    log.info("clock tick %s at %s for %s", tick_id, now.isoformat(), ", ".join(due))
    return tick_id


def request_resolve(session: Session, consumer: str, now: datetime, *, force: bool = False) -> str | None:
    """A re-solve point (``resolve_at="tick"``): a tick in the outbox for the partitions
    waiting for one, unless a tick is on its way already (``force``: from a tick being applied,
    which is itself not back yet). Returns its event id. The caller commits."""
    if not force and _tick_on_its_way(session, consumer):
        return None  # that tick will solve them: the book takes events meanwhile
    # microseconds in the cause: two points in one millisecond still get two ids
    return _publish_tick(session, consumer, now, derived_event_id(now, "tick", consumer, now.isoformat()))


def _tick_on_its_way(session: Session, consumer: str) -> bool:
    last_tick = session.scalar(
        select(OutboxMessage.event_id)
        .where(OutboxMessage.event_type == _TICK)
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )
    return last_tick is not None and session.get(InboxEntry, (consumer, last_tick)) is None


def _publish_tick(session: Session, consumer: str, now: datetime, tick_id: str) -> str:
    data = ClockTicked(tick_id=tick_id, coordinator=consumer, at=now)
    publish(session, _TICK, data, CLOCK_REGION, event_id=tick_id, at=now, logged=False)
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


def clock_ticked(
    event: Applied[ClockTicked],
    uow: UnitOfWork,
    *,
    policy: MatchPolicy,
    consumer: str,
    hold_timeout: timedelta,
) -> None:
    """The clock-driven work, at the instant the tick records: partitions waiting for a
    re-solve point are solved (``resolve_at="tick"``), proposals nobody answered expire,
    proposals whose need's or offer's window ended are withdrawn,
    unfinished actions past their date become overdue, agendas past their cut-off are compiled,
    and events held longer than ``hold_timeout`` are dead-lettered."""
    session, at = uow.session, event.data.at
    resolve_dirty(session, policy, event.cause)
    expire_due(session, policy, event.cause)
    end_ended_windows(session, policy, event.cause)
    follow_up.mark_overdue(session, at.date())
    projects.mark_overdue(session, at.date())
    mediation.follow_time_limits(session, at)
    for meeting_id in agendas.meetings_due_for_agenda(session, at):
        agendas.compile_meeting_agenda(session, meeting_id, as_of=at, made_by="compiled at the cut-off")
    expire_holds(session, consumer, at, hold_timeout)
