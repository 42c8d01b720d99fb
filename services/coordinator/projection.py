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

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.coordinator.book.models import BookListing, BookNeed, BookOffer
from services.coordinator.journal.models import EventLogEntry, HeldEvent
from services.coordinator.journal.service import log_event
from services.coordinator.matches.models import Match
from services.coordinator.matches.service import (
    CREATED_MATCHES,
    Cause,
    MatchPolicy,
    change_status,
    emit_match,
    expire_due,
    partition_of,
    partitions_for_offer,
    resolve,
    sync_offer_areas,
)
from services.coordinator.meetings import service as meetings
from services.coordinator.meetings.handlers import carry_out_meeting_step
from services.coordinator.meetings.models import AgendaProposal, Invitation
from services.coordinator.registry.models import RegisteredOrganisation
from shared.errors import SifangError
from shared.events.data import (
    ActionProgressed,
    AgendaItemProposed,
    ClockTicked,
    DisputeRaised,
    InstructionIssued,
    InvitationAnswered,
    MatchDelivery,
    MatchResponse,
    MinutesApproved,
    NeedData,
    NeedWithdrawn,
    OfferData,
    OfferWithdrawn,
    OrganisationRegistered,
)
from shared.events.validation import CheckedEvent, check_event
from shared.messaging.consumer import Delivery, EventRejected, dead_letter_of

__all__ = ["CoordinatorProjection", "Wait", "apply_event", "conflicting_copy", "prerequisite"]


@dataclass(frozen=True)
class Wait:
    """What a held event waits for (``key``) and why, in words for the operator."""

    key: str
    reason: str


def prerequisite(session: Session, checked: CheckedEvent) -> Wait | None:
    """What must be applied before ``checked`` can be, or None if it can be applied now.

    Raises EventRejected for an event from an organisation registered as another kind.
    """
    envelope, data = checked.envelope, checked.data
    if envelope.source_kind == "coordinator" or isinstance(data, OrganisationRegistered):
        return None
    org_id = envelope.source_org
    org = session.get(RegisteredOrganisation, org_id)
    if org is None:
        return Wait(f"organisation:{org_id}", f"organisation {org_id} has not been registered yet")
    if org.kind != envelope.source_kind:
        raise EventRejected(
            f"organisation {org_id} is registered as {org.kind}; it cannot publish "
            f"through the {envelope.source_kind} service"
        )
    match data:
        case NeedData() | OfferData():
            side, listing_id = _side_and_id(data)
            row = session.get(_model_of(data), listing_id)
            have = row.version if row is not None else 0
            if data.version > have + 1:
                return Wait(
                    f"{side}:{listing_id}@{data.version - 1}",
                    f"version {data.version} of {side} {listing_id} came before version {data.version - 1}",
                )
        case NeedWithdrawn() | OfferWithdrawn():
            side, listing_id = _side_and_id(data)
            row = session.get(_model_of(data), listing_id)
            wanted = data.version or 1
            if row is None or row.version < wanted:
                return Wait(
                    f"{side}:{listing_id}@{wanted}",
                    f"the withdrawal of {side} {listing_id} came before its version {wanted}",
                )
        case MatchResponse() | MatchDelivery():
            if session.get(Match, data.match_id) is None:
                return Wait(f"match:{data.match_id}", f"match {data.match_id} has not been proposed yet")
        case _:
            pass
    return None


def _completes(checked: CheckedEvent) -> set[str]:
    """The waits that applying ``checked`` may end."""
    data = checked.data
    match data:
        case OrganisationRegistered():
            return {f"organisation:{data.organisation_id}"}
        case NeedData() | OfferData():
            side, listing_id = _side_and_id(data)
            return {f"{side}:{listing_id}@{data.version}"}
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
    """Applies events under one matching policy, in each entity's order."""

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

    def __call__(self, session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
        """Apply one checked event, or hold it; raises EventRejected for one that must not apply."""
        data = checked.data
        if isinstance(data, ClockTicked) and data.coordinator != self.consumer:
            return  # another coordinator's clock
        wait = prerequisite(session, checked)
        if wait is not None:
            _hold(session, checked, delivery, wait)
            return
        session.info[CREATED_MATCHES] = set()
        self.apply(session, checked, delivery)
        self._release(session, _completes(checked))

    def apply(self, session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
        """Apply an event whose prerequisites are met, and log it."""
        envelope, data = checked.envelope, checked.data
        cause = Cause(envelope.id, envelope.correlationid, envelope.time)
        at = data.at if isinstance(data, ClockTicked | InstructionIssued) else envelope.time
        log_event(session, envelope, delivery.subject, delivery.stream_sequence)  # before its effects
        meetings.begin_cause(session, envelope.id, at)
        try:
            self._apply(session, checked, cause)
        finally:
            meetings.end_cause(session)

    def _apply(self, session: Session, checked: CheckedEvent, cause: Cause) -> None:
        envelope, data = checked.envelope, checked.data
        touched: set[str] = set()
        match data:
            case OrganisationRegistered():
                _register(session, data, checked)
            case NeedData():
                touched = self._need_changed(session, data, checked)
            case OfferData():
                touched = self._offer_changed(session, data, checked)
            case NeedWithdrawn() | OfferWithdrawn():
                touched = self._withdrawn(session, data, checked, cause)
            case MatchResponse():
                touched = self._respond(session, data, checked, cause)
            case MatchDelivery():
                self._delivered(session, data, checked, cause)
            case AgendaItemProposed() | DisputeRaised():
                _agenda_proposal(session, data, checked)
            case InvitationAnswered():
                invitation = session.get(Invitation, (data.meeting_id, data.organisation_id))
                if invitation is None:
                    raise EventRejected(
                        f"organisation {data.organisation_id} is not invited to {data.meeting_id}"
                    )
                invitation.reply, invitation.delegate = data.reply, data.delegate
            case ActionProgressed():
                if (
                    meetings.report_progress(
                        session,
                        data.action_id,
                        data.organisation_id,
                        status=data.status,
                        note=data.note,
                        evidence_url=data.evidence_url,
                        at=envelope.time,
                    )
                    is None
                ):
                    raise EventRejected(
                        f"organisation {data.organisation_id} owns no action {data.action_id}"
                    )
            case MinutesApproved():
                if (
                    meetings.approve_minutes(
                        session, data.meeting_id, data.organisation_id, data.record_hash, envelope.time
                    )
                    is None
                ):
                    raise EventRejected("the approval names no current minutes this organisation is party to")
            case ClockTicked():
                self._tick(session, data, Cause(envelope.id, envelope.correlationid, data.at))
            case InstructionIssued():
                touched = self._instruct(session, data, Cause(envelope.id, envelope.correlationid, data.at))
            case _:  # the services' own entity events are kept in the log
                pass
        for partition in sorted(touched):
            resolve(session, partition, self.policy, cause)

    def _release(self, session: Session, completed: set[str]) -> None:
        """Apply, in stream order, the held events that what was just applied completes."""
        completed |= {f"match:{m}" for m in session.info.pop(CREATED_MATCHES, set())}
        while completed:
            ready = list(
                session.scalars(
                    select(HeldEvent)
                    .where(HeldEvent.waits_for.in_(sorted(completed)))
                    .order_by(HeldEvent.stream_sequence)
                )
            )
            completed = set()
            for held in ready:
                checked = check_event(held.subject, held.payload)
                delivery = Delivery(held.subject, held.payload, dict(held.headers), held.stream_sequence, 1)
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

    def _tick(self, session: Session, data: ClockTicked, cause: Cause) -> None:
        """The clock-driven work, at the instant the tick records."""
        expire_due(session, self.policy, cause)
        meetings.mark_overdue(session, data.at.date(), cause_id=cause.event_id, at=data.at)
        for meeting_id in meetings.meetings_due_for_agenda(session, data.at):
            meetings.compile_meeting_agenda(
                session, meeting_id, as_of=data.at, made_by="compiled at the cut-off"
            )
        for held in held_too_long(session, data.at - self.hold_timeout):
            delivery = Delivery(held.subject, held.payload, dict(held.headers), held.stream_sequence, 1)
            reason = (
                f"held since {held.held_at.isoformat()} and the gap never filled "
                f"(waited {self.hold_timeout}): {held.reason}"
            )
            session.add(dead_letter_of(self.consumer, delivery, held.event_id, reason))
            session.delete(held)
        session.flush()

    def _instruct(self, session: Session, data: InstructionIssued, cause: Cause) -> set[str]:
        if data.action not in ("withdraw_match", "nudge_match"):
            try:
                carry_out_meeting_step(session, data)
            except SifangError as exc:
                raise EventRejected(exc.message) from exc
            return set()
        match = session.get(Match, data.target)
        if match is None or match.status != "proposed":
            state = "unknown" if match is None else match.status
            raise EventRejected(f"match {data.target} is {state}: only a proposal can be withdrawn or nudged")
        if data.action == "withdraw_match":
            reason = f"withdrawn by {data.coordinator}: {data.reason}"
            change_status(session, match, "withdrawn", reason, self.policy, cause)
            return {match.partition}
        match.reason = f"nudged by {data.coordinator} at {data.at:%Y-%m-%d %H:%M}"
        match.updated_at = data.at
        session.flush()
        emit_match(session, match, "proposed", self.policy, cause)
        return set()

    def _need_changed(self, session: Session, data: NeedData, checked: CheckedEvent) -> set[str]:
        before = session.get(BookNeed, data.need_id)
        old = partition_of(before.category, before.region) if before is not None else None
        if not _upsert_listing(session, data, checked):
            return set()
        return {p for p in (old, partition_of(data.category, data.region)) if p}

    def _offer_changed(self, session: Session, data: OfferData, checked: CheckedEvent) -> set[str]:
        before = session.get(BookOffer, data.offer_id)
        old = partitions_for_offer(session, before) if before is not None else set()
        if not _upsert_listing(session, data, checked):
            return set()
        offer = session.get(BookOffer, data.offer_id)
        assert offer is not None
        sync_offer_areas(session, offer)
        session.flush()
        return old | partitions_for_offer(session, offer)

    def _withdrawn(
        self, session: Session, data: NeedWithdrawn | OfferWithdrawn, checked: CheckedEvent, cause: Cause
    ) -> set[str]:
        row = _withdraw_listing(session, data, checked)
        column = Match.need_id if isinstance(data, NeedWithdrawn) else Match.offer_id
        side = "need" if isinstance(data, NeedWithdrawn) else "offer"
        touched: set[str] = set()
        for match in session.scalars(select(Match).where(column == row.id, Match.status == "proposed")):
            change_status(
                session, match, "withdrawn", f"the {side} was withdrawn: {data.reason}", self.policy, cause
            )
            touched.add(match.partition)
        if isinstance(row, BookNeed):
            touched.add(partition_of(row.category, row.region))
        return touched

    def _party_match(self, session: Session, match_id: str, checked: CheckedEvent) -> Match:
        match = session.get(Match, match_id)
        if match is None:
            raise EventRejected(f"no match {match_id}")
        if checked.envelope.source_org not in (match.need_organisation_id, match.offer_organisation_id):
            raise EventRejected(
                f"organisation {checked.envelope.source_org} is not a party to match {match_id}"
            )
        return match

    def _respond(
        self, session: Session, data: MatchResponse, checked: CheckedEvent, cause: Cause
    ) -> set[str]:
        match = self._party_match(session, data.match_id, checked)
        if match.status != "proposed":
            return set()  # too late (expired, withdrawn): the answer is only logged
        org = checked.envelope.source_org
        if checked.event_type.verb == "rejected":
            who = "the needing" if org == match.need_organisation_id else "the offering"
            reason = f"declined by {who} organisation: {data.reason or 'no reason given'}"
            change_status(session, match, "declined", reason, self.policy, cause)
            return {match.partition}
        if org in match.accepted_by:
            return set()
        match.accepted_by = sorted({*match.accepted_by, org})
        match.updated_at = cause.time
        if set(match.accepted_by) == {match.need_organisation_id, match.offer_organisation_id}:
            change_status(session, match, "confirmed", "both parties accepted", self.policy, cause)
        return set()

    def _delivered(self, session: Session, data: MatchDelivery, checked: CheckedEvent, cause: Cause) -> None:
        match = self._party_match(session, data.match_id, checked)
        if match.status != "confirmed":
            raise EventRejected(f"match {match.id} is {match.status}; deliveries need a confirmed match")
        total = match.fulfilled_quantity + data.quantity
        if total > match.quantity:
            raise EventRejected(f"delivery brings {total} over the matched {match.quantity} {match.unit}")
        match.fulfilled_quantity = total
        match.updated_at = cause.time
        if total == match.quantity:
            match.status = "fulfilled"
            match.reason = "fully delivered"
        session.flush()
        emit_match(session, match, "delivery_recorded", self.policy, cause)


apply_event = CoordinatorProjection()


def _agenda_proposal(
    session: Session, data: AgendaItemProposed | DisputeRaised, checked: CheckedEvent
) -> None:
    org = session.get(RegisteredOrganisation, data.organisation_id)
    if isinstance(data, DisputeRaised):
        ident, source, series_id, region = data.dispute_id, "dispute", None, data.region
        details: dict[str, object] = {"other_parties": data.other_parties}
    else:
        ident, source, series_id = data.proposal_id, "proposal", data.series_id
        region, details = (org.region if org else checked.envelope.region), {"links": data.links}
    session.add(
        AgendaProposal(
            id=ident,
            source=source,
            organisation_id=data.organisation_id,
            series_id=series_id,
            region=region,
            title=data.title,
            description=data.description,
            details=details,
            status="pending",
            raised_at=checked.envelope.time,
        )
    )


def _hold(session: Session, checked: CheckedEvent, delivery: Delivery, wait: Wait) -> None:
    """Keep an event that came too early until what it waits for has been applied."""
    envelope = checked.envelope
    session.add(
        HeldEvent(
            event_id=envelope.id,
            waits_for=wait.key,
            reason=wait.reason,
            stream_sequence=delivery.stream_sequence,
            subject=delivery.subject,
            headers=delivery.headers,
            payload=delivery.payload,
            held_at=envelope.time,
        )
    )
    session.flush()


def held_too_long(session: Session, older_than: datetime) -> list[HeldEvent]:
    """Held events whose wait began before ``older_than``, in stream order."""
    query = select(HeldEvent).where(HeldEvent.held_at <= older_than).order_by(HeldEvent.stream_sequence)
    return list(session.scalars(query))


def _register(session: Session, data: OrganisationRegistered, checked: CheckedEvent) -> None:
    """Only the service of an organisation's kind registers it, once; its kind never changes."""
    if data.kind != checked.envelope.source_kind:
        raise EventRejected(
            f"the {checked.envelope.source_kind} service cannot register a {data.kind} organisation"
        )
    known = session.get(RegisteredOrganisation, data.organisation_id)
    if known is not None:
        raise EventRejected(
            f"organisation {data.organisation_id} is registered already (as {known.kind}); "
            "an organisation is registered once and its kind never changes"
        )
    session.add(
        RegisteredOrganisation(
            id=data.organisation_id,
            name=data.name,
            kind=data.kind,
            region=data.region,
            contact=data.contact.model_dump(),
            registered_at=checked.envelope.time,
        )
    )


def _model_of(data: NeedData | OfferData | NeedWithdrawn | OfferWithdrawn) -> type[BookListing]:
    return BookNeed if isinstance(data, NeedData | NeedWithdrawn) else BookOffer


def _side_and_id(data: NeedData | OfferData | NeedWithdrawn | OfferWithdrawn) -> tuple[str, str]:
    if isinstance(data, NeedData | NeedWithdrawn):
        return "need", data.need_id
    return "offer", data.offer_id


def _owned(row: BookListing, checked: CheckedEvent) -> None:
    if row.organisation_id != checked.envelope.source_org:
        raise EventRejected(
            f"organisation {checked.envelope.source_org} acted on {row.id}, "
            f"which belongs to {row.organisation_id}"
        )


def _upsert_listing(session: Session, data: NeedData | OfferData, checked: CheckedEvent) -> bool:
    """Bring the book's copy to the event's state; False for a late copy of an older state."""
    model = _model_of(data)
    listing_id = data.need_id if isinstance(data, NeedData) else data.offer_id
    row = session.get(model, listing_id)
    when = checked.envelope.time
    if row is None:
        row = model(
            id=listing_id,
            status="open",
            version=0,
            published_at=when,
            withdrawn_reason=None,
            kind=checked.envelope.source_kind,
        )
        session.add(row)
    else:
        _owned(row, checked)
        if data.version <= row.version:
            return False
    row.organisation_id = data.organisation_id
    row.category = data.category
    row.title = data.title
    row.description = data.description
    row.quantity = data.quantity
    row.unit = data.unit
    row.region = data.region
    row.window_start = data.window_start
    row.window_end = data.window_end
    row.attributes = data.attributes
    row.version = data.version
    row.updated_at = when
    if isinstance(row, BookOffer) and isinstance(data, OfferData):
        row.service_area = data.service_area
    session.flush()
    return True


def _withdraw_listing(
    session: Session, data: NeedWithdrawn | OfferWithdrawn, checked: CheckedEvent
) -> BookListing:
    model = _model_of(data)
    listing_id = data.need_id if isinstance(data, NeedWithdrawn) else data.offer_id
    row = session.get(model, listing_id)
    assert row is not None, "prerequisite() holds a withdrawal until its listing is known"
    _owned(row, checked)
    row.status = "withdrawn"
    row.withdrawn_reason = data.reason
    row.updated_at = checked.envelope.time
    session.flush()
    return row
