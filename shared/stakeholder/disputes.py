"""Disputes in mediation as a stakeholder service sees them: those its organisations are party
to or mediate, kept from the coordinator's ``dispute.*`` events; and what each does through its
own service — a party states its case and answers a settlement, the mediator proposes a
settlement or declares the mediation failed — each sent to the coordinator as an event. Each
request is checked first against the dispute's last known state with the rules the coordinator
applies (``shared/mediation_rules.py``). A community raises a dispute at its own service
(``POST /disputes``)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from shared import mediation_rules as rules
from shared.app import UowDep
from shared.events.data import (
    DisputeData,
    MediationEnded,
    SettlementAnswered,
    SettlementProposed,
    StatementGiven,
)
from shared.events.envelope import new_event_id
from shared.events.validation import CheckedEvent
from shared.messaging.consumer import Delivery
from shared.rule_errors import obeying
from shared.stakeholder.models import CoordinatorNotice, Organisation
from shared.stakeholder.notices import keep_whole_state, notices_of, own_notice
from shared.stakeholder.service import emit
from shared.stakeholder.views import CurrentOrg

__all__ = ["apply_dispute_event", "disputes_router"]


def apply_dispute_event(session: Session, checked: CheckedEvent, delivery: Delivery) -> None:
    """Keep the coordinator's state of each dispute one of our organisations is party to or mediates."""
    data = checked.data
    if isinstance(data, DisputeData):
        keep_whole_state(session, checked, "dispute", data.dispute_id, data.concerns, data.version)


class Statement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    statement: Annotated[str, Field(min_length=1, max_length=3000)]
    evidence_url: Annotated[str, Field(max_length=500)] = ""


class Settlement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    terms: Annotated[str, Field(min_length=1, max_length=5000)]


class SettlementAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: Literal["accept", "reject"]
    reason: Annotated[str, Field(max_length=1000)] = ""


class Failure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, Field(min_length=1, max_length=2000)] = Field(description="why mediation failed")


class DisputeView(DisputeData):
    """A dispute concerning the calling organisation, with its place in it."""

    model_config = ConfigDict(extra="ignore", frozen=False)

    my_part: Literal["party", "mediator"]
    my_turn: bool = Field(description="whether the dispute waits for the caller now")


def _view(notice: CoordinatorNotice, org: Organisation) -> DisputeView:
    state = notice.state
    part = "mediator" if state.get("mediator_organisation_id") == org.id else "party"
    return DisputeView.model_validate(state | {"my_part": part, "my_turn": org.id in state["awaiting"]})


def _settlements(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [s | {"proposed_at": datetime.fromisoformat(s["proposed_at"])} for s in state["settlements"]]


def disputes_router() -> APIRouter:
    router = APIRouter(tags=["disputes"])

    @router.get("/disputes", summary="Disputes this organisation is party to or mediates")
    def list_disputes(uow: UowDep, org: CurrentOrg) -> list[DisputeView]:
        return [_view(row, org) for row in notices_of(uow.session, org, "dispute")]

    @router.get("/disputes/{dispute_id}", summary="One dispute concerning this organisation")
    def get_dispute(dispute_id: str, uow: UowDep, org: CurrentOrg) -> DisputeView:
        return _view(own_notice(uow.session, org, "dispute", dispute_id), org)

    @router.post(
        "/disputes/{dispute_id}/statements",
        status_code=status.HTTP_202_ACCEPTED,
        summary="State this party's case to the mediator",
    )
    def state_case(dispute_id: str, body: Statement, uow: UowDep, org: CurrentOrg) -> StatementGiven:
        notice = own_notice(uow.session, org, "dispute", dispute_id)
        state = notice.state
        obeying(
            lambda: rules.check_statement(
                state["status"],
                state["mediator_organisation_id"],
                state["parties"],
                org.id,
                state["statements"],
            )
        )
        event = StatementGiven(
            statement_id=new_event_id(),
            dispute_id=dispute_id,
            organisation_id=org.id,
            statement=body.statement,
            evidence_url=body.evidence_url,
        )
        emit(uow.session, org, "dispute", "statement_given", event, region=notice.region or org.region)
        uow.commit()
        return event

    @router.post(
        "/disputes/{dispute_id}/settlements",
        status_code=status.HTTP_202_ACCEPTED,
        summary="Propose a settlement (the mediator)",
    )
    def propose(dispute_id: str, body: Settlement, uow: UowDep, org: CurrentOrg) -> SettlementProposed:
        notice = own_notice(uow.session, org, "dispute", dispute_id)
        state = notice.state
        obeying(
            lambda: rules.check_settlement(
                state["status"], state["mediator_organisation_id"], _settlements(state), org.id
            )
        )
        event = SettlementProposed(
            settlement_id=new_event_id(), dispute_id=dispute_id, organisation_id=org.id, terms=body.terms
        )
        emit(uow.session, org, "dispute", "settlement_proposed", event, region=notice.region or org.region)
        uow.commit()
        return event

    @router.post(
        "/disputes/{dispute_id}/settlements/{settlement_id}/answer",
        status_code=status.HTTP_202_ACCEPTED,
        summary="Accept or reject the settlement (a party)",
    )
    def answer(
        dispute_id: str, settlement_id: str, body: SettlementAnswer, uow: UowDep, org: CurrentOrg
    ) -> SettlementAnswered:
        notice = own_notice(uow.session, org, "dispute", dispute_id)
        state = notice.state
        obeying(
            lambda: rules.check_answer(
                state["status"], state["parties"], _settlements(state), org.id, settlement_id
            )
        )
        event = SettlementAnswered(
            dispute_id=dispute_id,
            settlement_id=settlement_id,
            organisation_id=org.id,
            answer=body.answer,
            reason=body.reason,
        )
        emit(uow.session, org, "dispute", "settlement_answered", event, region=notice.region or org.region)
        uow.commit()
        return event

    @router.post(
        "/disputes/{dispute_id}/fail",
        status_code=status.HTTP_202_ACCEPTED,
        summary="Declare the mediation failed: the dispute goes to the joint meeting (the mediator)",
    )
    def fail(dispute_id: str, body: Failure, uow: UowDep, org: CurrentOrg) -> MediationEnded:
        notice = own_notice(uow.session, org, "dispute", dispute_id)
        obeying(
            lambda: rules.check_end(notice.state["status"], notice.state["mediator_organisation_id"], org.id)
        )
        event = MediationEnded(dispute_id=dispute_id, organisation_id=org.id, note=body.note)
        emit(uow.session, org, "dispute", "mediation_ended", event, region=notice.region or org.region)
        uow.commit()
        return event

    return router
