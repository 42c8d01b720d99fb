"""How each stakeholder event changes the coordinator's state.

A function of the event and the current state, so replaying the stream in order rebuilds
the same registry, book, matches and log. Need and offer events carry the whole state and a
version, so an older version arriving late never overwrites a newer one. Every change to the
book re-solves the partitions it touches (see ``matchmaker``); answers from the parties move
matches through proposed → confirmed → fulfilled, or declined.
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.coordinator import meetings
from services.coordinator.matchmaker import (
    Cause,
    MatchPolicy,
    change_status,
    emit_match,
    partition_of,
    partitions_for_offer,
    resolve,
    sync_offer_areas,
)
from services.coordinator.models import (
    AgendaProposal,
    BookListing,
    BookNeed,
    BookOffer,
    EventLogEntry,
    Invitation,
    Match,
    RegisteredOrganisation,
)
from shared.db import utcnow
from shared.events.data import (
    ActionProgressed,
    AgendaItemProposed,
    DisputeRaised,
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
from shared.events.validation import CheckedEvent
from shared.messaging.consumer import Delivery, EventRejected

__all__ = ["CoordinatorProjection", "apply_event"]


class CoordinatorProjection:
    """Applies stakeholder events under one matching policy."""

    def __init__(self, policy: MatchPolicy | None = None) -> None:
        self.policy = policy or MatchPolicy()

    def __call__(self, session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
        """Apply one checked event; raises EventRejected for one that must not apply."""
        envelope, data = checked.envelope, checked.data
        cause = Cause(envelope.id, envelope.correlationid, envelope.time)
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
            case _:  # the services' own entity events are kept in the log
                pass
        for partition in sorted(touched):
            resolve(session, partition, self.policy, cause)
        _log(session, checked, delivery)

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


def _log(session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
    envelope = checked.envelope
    last = session.scalar(select(func.max(EventLogEntry.position)))
    session.add(
        EventLogEntry(
            event_id=envelope.id,
            position=(last or 0) + 1,
            stream_sequence=delivery.stream_sequence,
            nats_subject=delivery.subject,
            type=envelope.type,
            source=envelope.source,
            kind=envelope.source_kind,
            organisation_id=envelope.source_org,
            entity_id=envelope.subject,
            region=envelope.region,
            time=envelope.time,
            correlation_id=envelope.correlationid,
            causation_id=envelope.causationid,
            data=envelope.data,
            received_at=utcnow(),
        )
    )


def _register(session: Session, data: OrganisationRegistered, checked: CheckedEvent) -> None:
    if session.get(RegisteredOrganisation, data.organisation_id) is not None:
        raise EventRejected(f"organisation {data.organisation_id} is registered already")
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
    if row is None:
        raise EventRejected(f"withdrawal of {listing_id}, which the coordinator never saw published")
    _owned(row, checked)
    row.status = "withdrawn"
    row.withdrawn_reason = data.reason
    row.updated_at = checked.envelope.time
    session.flush()
    return row
