"""Matches as a stakeholder service sees them: the proposals concerning its organisations,
their answers (accept / decline) and their delivery reports, each published as an event.

The coordinator's match events arrive through this service's own durable consumer and are
kept as copies; answers go back as ``match.accepted`` / ``match.rejected`` /
``match.delivered`` events through the outbox.
"""

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from shared.app import UowDep
from shared.db import UnitOfWork, utcnow
from shared.errors import Conflict, InvalidInput, NotFound
from shared.events.data import MatchData, MatchDelivery, MatchResponse, PositiveQuantity
from shared.events.envelope import new_event_id
from shared.events.validation import CheckedEvent
from shared.messaging.consumer import Delivery
from shared.stakeholder.models import MatchAnswer, MatchCopy, Organisation
from shared.stakeholder.service import emit
from shared.stakeholder.views import CurrentOrg

__all__ = [
    "Decline",
    "DeliveryAccepted",
    "DeliveryReport",
    "MatchView",
    "answer_match",
    "apply_match_event",
    "match_of",
    "matches_of",
    "matches_router",
    "report_delivery",
]


class MatchView(MatchData):
    """A match concerning the calling organisation, with its side and its own answer."""

    model_config = ConfigDict(extra="ignore", frozen=False)

    my_side: str = Field(description="need or offer: which side of the match the caller is on")
    my_answer: str | None = Field(description="accepted or declined, once the caller answered")
    my_answer_outdated: bool = Field(
        default=False,
        description=(
            "The caller accepted an earlier version of this proposal and the coordinator amended "
            "its quantity before that acceptance arrived: it was not counted; answer again."
        ),
    )


class Decline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=1000)]


class DeliveryReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quantity: PositiveQuantity = Field(description="delivered now, in the need's unit")
    note: Annotated[str, Field(max_length=2000)] = ""
    evidence_url: Annotated[str, Field(max_length=500)] = ""


def apply_match_event(session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
    """Keep a copy of a coordinator match event that concerns one of our organisations."""
    data = checked.data
    if not isinstance(data, MatchData):
        return
    ours = session.scalar(
        select(Organisation.id).where(
            Organisation.id.in_((data.need_organisation_id, data.offer_organisation_id))
        )
    )
    if ours is None:
        return
    copy = session.get(MatchCopy, data.match_id)
    if copy is None:
        copy = MatchCopy(id=data.match_id)
        session.add(copy)
    elif _older(data.version, copy.state.get("version")):
        return  # a late copy of an earlier state
    copy.need_organisation_id = data.need_organisation_id
    copy.offer_organisation_id = data.offer_organisation_id
    copy.status = data.status
    copy.state = data.model_dump(mode="json")
    copy.updated_at = checked.envelope.time
    copy.region = checked.envelope.region


def _older(version: int | None, known: object) -> bool:
    return version is not None and isinstance(known, int) and version <= known


def _view(copy: MatchCopy, org: Organisation, answer: MatchAnswer | None) -> MatchView:
    side = "need" if copy.need_organisation_id == org.id else "offer"
    outdated = answer is not None and _outdated(answer, copy, org)
    return MatchView.model_validate(
        copy.state
        | {"my_side": side, "my_answer": answer.answer if answer else None, "my_answer_outdated": outdated}
    )


def _outdated(answer: MatchAnswer, copy: MatchCopy, org: Organisation) -> bool:
    """An acceptance of an earlier version of a proposal that the coordinator did not count."""
    current = copy.state.get("version")
    return (
        answer.answer == "accepted"
        and answer.version is not None
        and isinstance(current, int)
        and answer.version < current
        and copy.status == "proposed"
        and org.id not in copy.state.get("accepted_by", [])
    )


def _own(session: Session, org: Organisation, match_id: str, *, for_update: bool = False) -> MatchCopy:
    """The organisation's copy of a match; ``for_update`` locks it (answers through two replicas
    of the service are then taken one after the other: the second sees the first)."""
    copy = session.get(MatchCopy, match_id, with_for_update=for_update)
    if copy is None or org.id not in (copy.need_organisation_id, copy.offer_organisation_id):
        raise NotFound(f"no match {match_id!r} concerning this organisation", field="match_id")
    return copy


def answer_match(uow: UnitOfWork, org: Organisation, match_id: str, answer: str, reason: str) -> MatchView:
    copy = _own(uow.session, org, match_id, for_update=True)
    if copy.status != "proposed":
        raise Conflict(f"this match is {copy.status}; only proposals can be answered", field="status")
    version = copy.state.get("version")
    earlier = uow.session.get(MatchAnswer, (match_id, org.id))
    if earlier is not None and not _outdated(earlier, copy, org):
        raise Conflict("this organisation has answered this proposal already", field="match_id")
    if earlier is not None:  # it accepted a version since amended: this answer replaces that one
        uow.session.delete(earlier)
        uow.session.flush()
    record = MatchAnswer(
        match_id=match_id,
        organisation_id=org.id,
        answer=answer,
        reason=reason,
        answered_at=utcnow(),
        version=version if isinstance(version, int) else None,
    )
    uow.session.add(record)
    verb = "accepted" if answer == "accepted" else "rejected"
    event = MatchResponse(match_id=match_id, organisation_id=org.id, reason=reason, version=record.version)
    emit(uow.session, org, "match", verb, event, region=copy.region or org.region)
    uow.commit()
    return _view(copy, org, record)


class DeliveryAccepted(BaseModel):
    """A delivery report on its way to the coordinator (202: recorded, not yet applied)."""

    delivery_id: str
    match_id: str
    quantity: str
    recorded_at: str


def report_delivery(
    uow: UnitOfWork, org: Organisation, match_id: str, command: DeliveryReport
) -> DeliveryAccepted:
    copy = _own(uow.session, org, match_id)
    if copy.status != "confirmed":
        raise Conflict(f"this match is {copy.status}; deliveries need a confirmed match", field="status")
    left = Decimal(copy.state["quantity"]) - Decimal(copy.state["fulfilled_quantity"])
    if command.quantity > left:
        raise InvalidInput(f"at most {left} {copy.state['unit']} remain to deliver", field="quantity")
    event = MatchDelivery(
        delivery_id=new_event_id(),
        match_id=match_id,
        organisation_id=org.id,
        quantity=command.quantity,
        note=command.note,
        evidence_url=command.evidence_url,
    )
    emit(uow.session, org, "match", "delivered", event, region=copy.region or org.region)
    uow.commit()
    return DeliveryAccepted(
        delivery_id=event.delivery_id,
        match_id=match_id,
        quantity=str(command.quantity),
        recorded_at=datetime.now().astimezone().isoformat(),
    )


def matches_of(session: Session, org: Organisation, status: str | None = None) -> list[MatchView]:
    """Matches concerning ``org`` (with ``status`` if given), the latest first."""
    query = select(MatchCopy).where(
        or_(MatchCopy.need_organisation_id == org.id, MatchCopy.offer_organisation_id == org.id)
    )
    if status:
        query = query.where(MatchCopy.status == status)
    answers = {
        a.match_id: a
        for a in session.scalars(select(MatchAnswer).where(MatchAnswer.organisation_id == org.id))
    }
    rows = session.scalars(query.order_by(MatchCopy.updated_at.desc(), MatchCopy.id))
    return [_view(row, org, answers.get(row.id)) for row in rows]


def match_of(session: Session, org: Organisation, match_id: str) -> MatchView:
    copy = _own(session, org, match_id)
    return _view(copy, org, session.get(MatchAnswer, (match_id, org.id)))


def matches_router() -> APIRouter:
    router = APIRouter(tags=["matches"])

    @router.get(
        "/matches",
        response_model=list[MatchView],
        summary="Matches the coordinator proposed to this organisation",
    )
    def list_(
        uow: UowDep,
        org: CurrentOrg,
        status: Annotated[
            str | None, Query(pattern="^(proposed|confirmed|fulfilled|declined|expired|withdrawn)$")
        ] = None,
    ) -> list[MatchView]:
        return matches_of(uow.session, org, status)

    @router.get(
        "/matches/{match_id}",
        response_model=MatchView,
        summary="One match, with the coordinator's explanation",
    )
    def get(match_id: str, uow: UowDep, org: CurrentOrg) -> MatchView:
        return match_of(uow.session, org, match_id)

    @router.post("/matches/{match_id}/accept", response_model=MatchView, summary="Accept a proposal")
    def accept(match_id: str, uow: UowDep, org: CurrentOrg) -> MatchView:
        return answer_match(uow, org, match_id, "accepted", "")

    @router.post(
        "/matches/{match_id}/decline", response_model=MatchView, summary="Decline a proposal, saying why"
    )
    def decline(match_id: str, body: Decline, uow: UowDep, org: CurrentOrg) -> MatchView:
        return answer_match(uow, org, match_id, "declined", body.reason)

    @router.post(
        "/matches/{match_id}/deliveries",
        status_code=202,
        response_model=DeliveryAccepted,
        summary="Report a delivery under a confirmed match (partial quantities allowed)",
    )
    def deliver(match_id: str, body: DeliveryReport, uow: UowDep, org: CurrentOrg) -> DeliveryAccepted:
        return report_delivery(uow, org, match_id, body)

    return router
