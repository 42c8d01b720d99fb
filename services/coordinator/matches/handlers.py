"""The handlers that keep matches optimal and follow them to fulfilment: a need or offer
changes or is withdrawn (the book follows, the partitions it touches are re-solved), a party
answers a proposal or reports a delivery, a coordinator withdraws or nudges a proposal."""

from functools import partial

from pydantic import BaseModel

from services.coordinator.book.models import BookNeed, BookOffer, OfferElsewhere
from services.coordinator.book.service import (
    find_listing,
    listing_key,
    listing_model,
    upsert_listing,
    withdraw_listing,
)
from services.coordinator.bus import Applied, Command, CommandBody, CommandHandler, EventHandler, UnitOfWork
from services.coordinator.journal.service import Cause, current_cause
from services.coordinator.market.rules import SignalRule
from services.coordinator.market.service import contribution_of, follow_listing
from services.coordinator.matches import service as matches
from services.coordinator.matches.commands import NudgeMatch, WithdrawMatch
from services.coordinator.matches.service import MatchPolicy, partition_of, partitions_for_offer
from shared.events.data import (
    MatchDelivery,
    MatchResponse,
    NeedData,
    NeedWithdrawn,
    OfferData,
    OfferShared,
    OfferWithdrawn,
)

__all__ = ["MARKET_RULE", "command_handlers", "event_handlers"]

MARKET_RULE = SignalRule()  # when a county's category family is short or in glut (market/rules.py)


def need_changed(event: Applied[NeedData], uow: UnitOfWork, *, policy: MatchPolicy) -> None:
    data, session = event.data, uow.session
    before = find_listing(session, BookNeed, data.need_id)
    old = partition_of(before.category, before.region) if before is not None else None
    was = contribution_of(before)  # to the market, before the change
    row = upsert_listing(
        session,
        data,
        publisher=event.publisher,
        publisher_kind=event.envelope.source_kind,
        at=event.envelope.time,
        existing=before,
    )
    if row is None:
        return  # a late copy of an older state
    follow_listing(session, was, contribution_of(row), event.cause, MARKET_RULE)
    touched = {p for p in (old, partition_of(data.category, data.region)) if p}
    matches.resolve_changed(session, touched, policy, event.cause)


def offer_changed(event: Applied[OfferData], uow: UnitOfWork, *, policy: MatchPolicy) -> None:
    data, session = event.data, uow.session
    before = find_listing(session, BookOffer, data.offer_id)
    old = partitions_for_offer(session, before) if before is not None else set()
    was = contribution_of(before)
    row = upsert_listing(
        session,
        data,
        publisher=event.publisher,
        publisher_kind=event.envelope.source_kind,
        at=event.envelope.time,
        existing=before,
    )
    if row is None:
        return
    assert isinstance(row, BookOffer)
    follow_listing(session, was, contribution_of(row), event.cause, MARKET_RULE)
    # its matches are in ``old`` already (a new offer has none)
    now = partitions_for_offer(session, row, with_matches=False)
    matches.resolve_changed(session, old | now, policy, event.cause)
    matches.share_offers(session, [row], policy, event.cause)  # also when no need of ours wants it


def listing_withdrawn(
    event: Applied[NeedWithdrawn | OfferWithdrawn], uow: UnitOfWork, *, policy: MatchPolicy
) -> None:
    data, session = event.data, uow.session
    was = contribution_of(find_listing(session, listing_model(data), listing_key(data)[1]))
    row = withdraw_listing(session, data, publisher=event.publisher, at=event.envelope.time)
    follow_listing(session, was, contribution_of(row), event.cause, MARKET_RULE)
    side = "need" if isinstance(row, BookNeed) else "offer"
    touched = matches.withdraw_for_listing(session, side, row.id, data.reason, policy, event.cause)
    if isinstance(row, BookNeed):
        touched.add(partition_of(row.category, row.region))
    matches.resolve_changed(session, touched, policy, event.cause)
    if isinstance(row, BookOffer):
        matches.share_offers(session, [row], policy, event.cause)


def offer_shared(event: Applied[OfferShared], uow: UnitOfWork) -> None:
    """Another partition's offer that serves our counties: kept to show, never allocated here.
    A partition hears its own notices on a city's or province's subject: those it ignores."""
    data, session = event.data, uow.session
    if session.get(BookOffer, data.offer_id) is not None:
        return
    row = session.get(OfferElsewhere, data.offer_id)
    if row is None:
        row = OfferElsewhere(offer_id=data.offer_id)
        session.add(row)
    elif row.offer.get("version", 0) > data.offer.version:
        return  # an older state
    row.owner, row.offer = data.owner, data.offer.model_dump(mode="json")
    row.status, row.remaining, row.updated_at = data.status, data.remaining, event.envelope.time


def answered(event: Applied[MatchResponse], uow: UnitOfWork, *, policy: MatchPolicy) -> None:
    matches.record_answer(
        uow.session,
        event.data.match_id,
        event.publisher,
        accepted=event.verb != "rejected",
        reason=event.data.reason,
        version=event.data.version,
        policy=policy,
        cause=event.cause,
    )


def delivered(event: Applied[MatchDelivery], uow: UnitOfWork) -> None:
    matches.record_delivery(
        uow.session, event.data.match_id, event.publisher, event.data.quantity, event.cause
    )


def withdraw(command: Command[WithdrawMatch], uow: UnitOfWork, *, policy: MatchPolicy) -> str:
    cause = _cause_of(uow)
    matches.withdraw(
        uow.session,
        command.target,
        coordinator=command.coordinator,
        reason=command.body.reason,
        policy=policy,
        cause=cause,
    )
    return command.target


def nudge(command: Command[NudgeMatch], uow: UnitOfWork) -> str:
    matches.nudge(uow.session, command.target, coordinator=command.coordinator, cause=_cause_of(uow))
    return command.target


def _cause_of(uow: UnitOfWork) -> Cause:
    cause = current_cause(uow.session)
    if cause is None:
        raise RuntimeError("a coordinator's command is applied under the cause of its instruction")
    return cause


def event_handlers(policy: MatchPolicy) -> dict[type[BaseModel], EventHandler]:
    return {
        NeedData: partial(need_changed, policy=policy),
        OfferData: partial(offer_changed, policy=policy),
        NeedWithdrawn: partial(listing_withdrawn, policy=policy),
        OfferWithdrawn: partial(listing_withdrawn, policy=policy),
        MatchResponse: partial(answered, policy=policy),
        MatchDelivery: delivered,
        OfferShared: offer_shared,
    }


def command_handlers(policy: MatchPolicy) -> dict[type[CommandBody], CommandHandler]:
    return {WithdrawMatch: partial(withdraw, policy=policy), NudgeMatch: nudge}
