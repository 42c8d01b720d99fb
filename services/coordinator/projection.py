"""How each event changes the coordinator's state.

A function of the event and the current state, so replaying the stream in order rebuilds
the same registry, book, matches and log. Need and offer events carry the whole state and a
version, so an older version arriving late never overwrites a newer one. Every change to the
book re-solves the partitions it touches (see ``matchmaker``); answers from the parties move
matches through proposed → confirmed → fulfilled, or declined.

**Order and the registry as a gate.** An event is applied only once what it builds on has
been: its organisation's registration (by the service of the organisation's kind), the
previous version of its need or offer, the match it answers. An event that comes first is
*held* (kept whole in ``held_events``, naming what it waits for) and applied in the same
transaction as the event that completes it. A hold whose wait outlives ``hold_timeout`` is
dead-lettered by the next clock tick, with the reason. Handlers check before they change
anything, so an event refused with :class:`EventRejected` leaves no trace but its dead letter.

**The coordinator's own decisions** come back through the stream too: a ``clock.ticked``
event runs the clock-driven work (expiries, overdue actions, agendas at their cut-off, holds
that waited too long) at the instant it records, and an ``instruction.issued`` event
carries a coordinator's withdrawal or nudge; every event they cause has an id derived from
them. So the state is a function of the stream alone.
"""

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.coordinator.book.models import BookListing, BookNeed, BookOffer
from services.coordinator.book.service import (
    ListingEvent,
    find_listing,
    listing_key,
    listing_model,
    read_ahead,
)
from services.coordinator.bootstrap import build_bus
from services.coordinator.bus import Applied, InTransaction, MessageBus
from services.coordinator.clock import request_resolve
from services.coordinator.funds.service import FundEntryData, ledger_version
from services.coordinator.journal.holds import Wait, delivery_of, hold, ready_for
from services.coordinator.journal.models import EventLogEntry, HeldEvent
from services.coordinator.journal.service import Cause, begin_cause, end_cause, log_event
from services.coordinator.market.service import CellKey, cell_key, contribution_of, read_ahead_cells
from services.coordinator.matches.models import Match
from services.coordinator.matches.service import CREATED_MATCHES, RESOLVE_DUE, MatchPolicy
from services.coordinator.mediation.models import Dispute
from services.coordinator.projects.models import Project
from services.coordinator.registry.models import RegisteredOrganisation
from shared.db import kept, utcnow
from shared.errors import SifangError
from shared.events.data import (
    ClockTicked,
    DisputeRaised,
    FundAllocated,
    FundDisbursed,
    FundOpened,
    FundReturned,
    FundTrancheReceived,
    InstructionIssued,
    MatchDelivery,
    MatchResponse,
    MediationEnded,
    NeedData,
    NeedWithdrawn,
    OfferData,
    OfferWithdrawn,
    OrganisationRegistered,
    ProjectAnswered,
    ProjectClosed,
    ProjectProgressed,
    ProjectProposed,
    SettlementAnswered,
    SettlementProposed,
    StatementGiven,
)
from shared.events.validation import CheckedEvent, check_event
from shared.messaging.consumer import Delivery, EventRejected, dead_letter_of

__all__ = ["CoordinatorProjection", "Wait", "apply_event", "conflicting_copy", "prerequisite"]


def prerequisite(session: Session, checked: CheckedEvent) -> Wait | None:
    """What must be applied before ``checked`` can be, or None if it can be applied now.

    Raises EventRejected for an event from an organisation registered as another kind.
    """
    envelope, data = checked.envelope, checked.data
    if envelope.source_kind == "coordinator" or isinstance(data, OrganisationRegistered):
        return None
    org_id = envelope.source_org
    org = kept(session, session.get(RegisteredOrganisation, org_id))  # a batch asks again and again
    if org is None:
        return Wait(f"organisation:{org_id}", f"organisation {org_id} has not been registered yet")
    if org.kind != envelope.source_kind:
        raise EventRejected(
            f"organisation {org_id} is registered as {org.kind}; it cannot publish "
            f"through the {envelope.source_kind} service"
        )
    match data:
        case NeedData() | OfferData() if data.version > 1:  # a first version waits for nothing
            side, listing_id = listing_key(data)
            row = find_listing(session, listing_model(data), listing_id)
            have = row.version if row is not None else 0
            if data.version > have + 1:
                return Wait(
                    f"{side}:{listing_id}@{data.version - 1}",
                    f"version {data.version} of {side} {listing_id} came before version {data.version - 1}",
                )
        case NeedWithdrawn() | OfferWithdrawn():
            side, listing_id = listing_key(data)
            row = find_listing(session, listing_model(data), listing_id)
            wanted = data.version or 1
            if row is None or row.version < wanted:
                return Wait(
                    f"{side}:{listing_id}@{wanted}",
                    f"the withdrawal of {side} {listing_id} came before its version {wanted}",
                )
        case MatchResponse() | MatchDelivery():
            if session.get(Match, data.match_id) is None:
                return Wait(f"match:{data.match_id}", f"match {data.match_id} has not been proposed yet")
        case FundTrancheReceived() | FundAllocated() | FundDisbursed() | FundReturned():
            return _ledger_wait(session, data)
        case ProjectAnswered() | ProjectProgressed() | ProjectClosed():
            if session.get(Project, data.project_id) is None:
                return Wait(
                    f"project:{data.project_id}", f"project {data.project_id} has not been proposed yet"
                )
        case StatementGiven() | SettlementProposed() | SettlementAnswered() | MediationEnded():
            if session.get(Dispute, data.dispute_id) is None:
                return Wait(
                    f"dispute:{data.dispute_id}", f"dispute {data.dispute_id} has not been raised yet"
                )
        case _:
            pass
    return None


def _ledger_wait(session: Session, data: FundEntryData) -> Wait | None:
    """An entry of a fund's ledger waits for the entry before it."""
    have = ledger_version(session, data.fund_id)
    if data.version > have + 1:
        return Wait(
            f"fund:{data.fund_id}@{data.version - 1}",
            f"entry {data.version} of fund {data.fund_id}'s ledger came before entry {data.version - 1}",
        )
    return None


def _completes(checked: CheckedEvent) -> set[str]:
    """The waits that applying ``checked`` may end."""
    data = checked.data
    match data:
        case OrganisationRegistered():
            return {f"organisation:{data.organisation_id}"}
        case NeedData() | OfferData():
            side, listing_id = listing_key(data)
            return {f"{side}:{listing_id}@{data.version}"}
        case FundOpened() | FundTrancheReceived() | FundAllocated() | FundDisbursed() | FundReturned():
            return {f"fund:{data.fund_id}@{data.version}"}
        case ProjectProposed():
            return {f"project:{data.project_id}"}
        case DisputeRaised():
            return {f"dispute:{data.dispute_id}"}
        case _:
            return set()


def conflicting_copy(session: Session, checked: CheckedEvent) -> str | None:
    """For an event id seen before: why this message is a different event under that id."""
    envelope = checked.envelope
    logged = session.get(EventLogEntry, envelope.id)
    if logged is not None:
        same = (logged.type, logged.source, logged.data) == (envelope.type, envelope.source, envelope.data)
    else:
        held = session.get(HeldEvent, envelope.id)
        if held is None:
            return None  # seen and dead-lettered: a copy changes nothing
        same = check_event(held.subject, held.payload).envelope.data == envelope.data
    if same:
        return None
    return (
        f"rejected: event id {envelope.id} was taken already by a different event "
        "(another type, source or data); ids must not be reused"
    )


class CoordinatorProjection:
    """Applies events under one matching policy, in each entity's order: holds what came too
    early, hands the rest to the bus, then releases what they completed."""

    def __init__(
        self,
        policy: MatchPolicy | None = None,
        *,
        consumer: str = "coordinator",
        hold_timeout: timedelta = timedelta(minutes=10),
    ) -> None:
        self.policy = policy or MatchPolicy()
        self.consumer = consumer
        self.hold_timeout = hold_timeout
        self.bus: MessageBus = build_bus(self.policy, consumer, hold_timeout)

    def read_ahead(self, session: Session, batch: Sequence[CheckedEvent]) -> None:
        """Before a batch is applied: read in one query each what its events would look up one
        at a time — the publishing organisations, the needs and offers they are about, the
        market cells those move — and hold it for the transaction (``kept``, and the
        ``read_ahead`` of the book and of the market)."""
        publishers = {c.envelope.source_org for c in batch if c.envelope.source_kind != "coordinator"}
        if publishers:
            known = select(RegisteredOrganisation).where(RegisteredOrganisation.id.in_(publishers))
            for org in session.scalars(known):
                kept(session, org)
        events = [(c.data, c.envelope.time) for c in batch if isinstance(c.data, ListingEvent)]
        if not events:
            return
        found: dict[tuple[type[BookListing], str], BookListing] = {
            (model, listing_id): row
            for model in (BookNeed, BookOffer)
            for listing_id, row in read_ahead(
                session, model, (listing_key(data)[1] for data, _ in events if listing_model(data) is model)
            ).items()
        }
        cells: set[CellKey] = set()  # where each listing's contribution to the market moves from and to
        for data, at in events:
            row = found.get((listing_model(data), listing_key(data)[1]))
            if (before := contribution_of(row)) is not None:
                cells.add(before.key)
            if isinstance(data, NeedData | OfferData):
                published = row.published_at if row is not None else at  # as upsert_listing sets it
                if (after := cell_key(data.region, data.category, data.unit, published)) is not None:
                    cells.add(after)
        read_ahead_cells(session, cells)

    def __call__(self, session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
        """Apply one checked event, or hold it; raises EventRejected for one that must not apply."""
        data = checked.data
        if isinstance(data, ClockTicked) and data.coordinator != self.consumer:
            return  # another coordinator's clock
        wait = prerequisite(session, checked)
        if wait is not None:
            hold(session, checked, delivery, wait)
            return
        session.info[CREATED_MATCHES] = set()
        self.apply(session, checked, delivery)
        self._release(session, _completes(checked))
        if session.info.pop(RESOLVE_DUE, False):  # resolve_at="tick": partitions wait for a point
            request_resolve(session, self.consumer, utcnow(), force=isinstance(data, ClockTicked))

    def apply(self, session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
        """Apply an event whose prerequisites are met, and log it (before its effects)."""
        envelope, data = checked.envelope, checked.data
        at = data.at if isinstance(data, ClockTicked | InstructionIssued) else envelope.time
        log_event(session, envelope, delivery.subject, delivery.stream_sequence)
        cause = Cause(envelope.id, envelope.correlationid, at)
        begin_cause(session, cause)
        try:
            self.bus.handle(Applied(data, envelope, checked.event_type.verb, cause), InTransaction(session))
        except SifangError as exc:  # a rule refused it: it must not apply
            raise EventRejected(exc.message) from exc
        finally:
            end_cause(session)

    def _release(self, session: Session, completed: set[str]) -> None:
        """Apply, in stream order, the held events that what was just applied completes."""
        completed |= {f"match:{m}" for m in session.info.pop(CREATED_MATCHES, set())}
        while completed:
            ready = ready_for(session, completed)
            completed = set()
            for held in ready:
                checked = check_event(held.subject, held.payload)
                delivery = delivery_of(held)
                try:
                    wait = prerequisite(session, checked)
                    if wait is not None:  # one gap filled, the next one still open
                        held.waits_for, held.reason = wait.key, wait.reason
                        continue
                    session.delete(held)
                    session.flush()
                    session.info[CREATED_MATCHES] = set()
                    self.apply(session, checked, delivery)
                except EventRejected as exc:
                    session.add(
                        dead_letter_of(self.consumer, delivery, checked.envelope.id, f"rejected: {exc}")
                    )
                    continue
                completed |= _completes(checked)
                completed |= {f"match:{m}" for m in session.info.pop(CREATED_MATCHES, set())}


apply_event = CoordinatorProjection()
