"""Mediating disputes: a dispute raised, a mediator assigned, statements, settlements and their
answers, reminders and escalation at the clock's tick, and the outcome recorded in the county's
hash chain. Every change publishes the dispute's whole state (``dispute.updated``, or
``dispute.reminder``, ``dispute.settled``, ``dispute.escalated``) as its next version, under
the cause being applied, so a replay publishes the same. The rules are
``shared/mediation_rules.py``; what a party may not do is refused with the rule's reason."""

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.coordinator.journal.service import new_id, publish
from services.coordinator.mediation.models import Dispute, MediationRecord
from services.coordinator.meetings.chain import GENESIS, hash_record
from services.coordinator.meetings.models import AgendaProposal
from services.coordinator.registry.models import RegisteredOrganisation
from shared import mediation_rules as rules
from shared.errors import Conflict, InvalidInput, NotFound
from shared.events.data import (
    DisputeData,
    DisputeRaised,
    MediationEnded,
    MediationRecordData,
    SettlementAnswered,
    SettlementProposed,
    StatementGiven,
)
from shared.regions import county_of
from shared.rule_errors import obeying

__all__ = [
    "answer_settlement",
    "assign_mediator",
    "check_new_dispute",
    "decided_at_meeting",
    "dispute_data",
    "disputes_due",
    "end_mediation",
    "follow_time_limits",
    "get_dispute",
    "give_statement",
    "open_dispute",
    "propose_settlement",
    "record_data",
]

T = TypeVar("T")
MAX_PARTIES = 10


def get_dispute(session: Session, dispute_id: str) -> Dispute:
    dispute = session.get(Dispute, dispute_id)
    if dispute is None:
        raise NotFound(f"no dispute {dispute_id!r}", field="dispute_id")
    return dispute


def _when(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def rule_state(dispute: Dispute) -> dict[str, Any]:
    """The dispute as the rules read it (instants as datetimes)."""
    return {
        "status": dispute.status,
        "raised_at": dispute.raised_at,
        "mediator": dispute.mediator,
        "mediator_since": dispute.mediator_since,
        "parties": dispute.parties,
        "statements": dispute.statements,
        "settlements": [
            s | {"proposed_at": _when(s["proposed_at"]), "answered_at": _when(s.get("answered_at"))}
            for s in dispute.settlements
        ],
        "reminders": dispute.reminders,
    }


def dispute_data(dispute: Dispute) -> DisputeData:
    step = rules.step_of(rule_state(dispute))
    return DisputeData(
        dispute_id=dispute.id,
        title=dispute.title,
        description=dispute.description,
        region=dispute.region,
        raised_by=dispute.raised_by,
        parties=dispute.parties,
        mediator_organisation_id=dispute.mediator,
        status=dispute.status,
        step=step.name if step else None,
        awaiting=step.awaiting if step else [],
        deadline=step.deadline if step else None,
        statements=dispute.statements,
        settlements=dispute.settlements,
        reminders=dispute.reminders,
        history=dispute.history,
        escalation=dispute.escalation,
        record_id=dispute.record_id,
        concerns=sorted({*dispute.parties, *([dispute.mediator] if dispute.mediator else [])}),
        version=dispute.version,
    )


def _publish(session: Session, dispute: Dispute, verb: str, at: datetime) -> None:
    """Publish the dispute's new state as its next version; the clock looks at it next at its
    step's deadline (or, once reminded, at the end of the grace)."""
    step = rules.step_of(rule_state(dispute))
    if step is None:
        dispute.next_check = None
    else:
        reminded = any(
            r["step"] == step.name and r["deadline"] == step.deadline.isoformat() for r in dispute.reminders
        )
        dispute.next_check = step.deadline + rules.LIMITS[step.name] if reminded else step.deadline
    dispute.updated_at = at
    dispute.version += 1
    session.flush()
    publish(
        session,
        f"sifang.dispute.{verb}.v1",
        dispute_data(dispute),
        dispute.region,
        id_parts=("dispute", verb, dispute.id, str(dispute.version)),
    )


def _noted(dispute: Dispute, at: datetime, what: str, by: str | None, **details: Any) -> None:
    dispute.history = [*dispute.history, {"at": at.isoformat(), "what": what, "by": by, **details}]


def _agenda_item(session: Session, dispute: Dispute) -> AgendaProposal | None:
    return session.get(AgendaProposal, dispute.id)


def check_new_dispute(session: Session, data: DisputeRaised) -> None:
    """Refuse a dispute whose id is taken (by a dispute or an agenda item), or that lies outside
    the county of the community raising it."""
    taken = session.get(Dispute, data.dispute_id) or session.get(AgendaProposal, data.dispute_id)
    if taken is not None:
        raise Conflict(f"dispute {data.dispute_id} exists already", field="dispute_id")
    org = session.get(RegisteredOrganisation, data.organisation_id)
    if org is not None and county_of(org.region) != county_of(data.region):
        raise InvalidInput(
            f"a dispute lies in the county of the community raising it ({county_of(org.region)}), "
            f"not in {data.region}",
            field="region",
        )
    if len(data.other_parties) > MAX_PARTIES:
        raise InvalidInput(f"a dispute names at most {MAX_PARTIES} other parties", field="other_parties")


def open_dispute(session: Session, data: DisputeRaised, at: datetime) -> Dispute:
    """A dispute a community raised awaits a mediator (its agenda item waits with it);
    :func:`check_new_dispute` first."""
    parties = [data.organisation_id, *(p for p in data.other_parties if p != data.organisation_id)]
    dispute = Dispute(
        id=data.dispute_id,
        title=data.title,
        description=data.description,
        region=data.region,
        raised_by=data.organisation_id,
        parties=list(dict.fromkeys(parties)),
        mediator=None,
        mediator_since=None,
        status="awaiting_mediator",
        raised_at=at,
        statements=[],
        settlements=[],
        reminders=[],
        history=[],
        escalation=None,
        record_id=None,
        updated_at=at,
        version=0,
    )
    _noted(dispute, at, "raised", data.organisation_id)
    session.add(dispute)
    _publish(session, dispute, "updated", at)
    return dispute


def assign_mediator(
    session: Session, dispute_id: str, mediator: str, coordinator: str, at: datetime
) -> Dispute:
    dispute = get_dispute(session, dispute_id)
    org = session.get(RegisteredOrganisation, mediator)
    obeying(
        lambda: rules.check_mediator(
            dispute.status, dispute.mediator, org.kind if org else None, mediator, dispute.parties
        )
    )
    dispute.mediator, dispute.mediator_since, dispute.status = mediator, at, "in_mediation"
    _noted(dispute, at, "mediator_assigned", coordinator, mediator=mediator)
    item = _agenda_item(session, dispute)
    if item is not None and item.status in ("awaiting_mediator", "pending"):
        item.status = "in_mediation"  # off the agendas while the mediation runs
    _publish(session, dispute, "updated", at)
    return dispute


def give_statement(session: Session, data: StatementGiven, at: datetime) -> Dispute:
    dispute = get_dispute(session, data.dispute_id)
    obeying(
        lambda: rules.check_statement(
            dispute.status, dispute.mediator, dispute.parties, data.organisation_id, dispute.statements
        )
    )
    statement = {
        "statement_id": data.statement_id,
        "organisation_id": data.organisation_id,
        "statement": data.statement,
        "evidence_url": data.evidence_url,
        "at": at.isoformat(),
    }
    dispute.statements = [*dispute.statements, statement]
    _noted(dispute, at, "statement", data.organisation_id)
    _publish(session, dispute, "updated", at)
    return dispute


def propose_settlement(session: Session, data: SettlementProposed, at: datetime) -> Dispute:
    dispute = get_dispute(session, data.dispute_id)
    obeying(
        lambda: rules.check_settlement(
            dispute.status, dispute.mediator, dispute.settlements, data.organisation_id
        )
    )
    settlement: dict[str, Any] = {
        "settlement_id": data.settlement_id,
        "terms": data.terms,
        "proposed_at": at.isoformat(),
        "status": "proposed",
        "answers": [],
        "answered_at": None,
    }
    dispute.settlements = [*dispute.settlements, settlement]
    _noted(dispute, at, "settlement_proposed", data.organisation_id, settlement_id=data.settlement_id)
    _publish(session, dispute, "updated", at)
    return dispute


def answer_settlement(session: Session, data: SettlementAnswered, at: datetime) -> Dispute:
    dispute = get_dispute(session, data.dispute_id)
    pending = obeying(
        lambda: rules.check_answer(
            dispute.status, dispute.parties, dispute.settlements, data.organisation_id, data.settlement_id
        )
    )
    answer = {
        "organisation_id": data.organisation_id,
        "answer": data.answer,
        "reason": data.reason,
        "at": at.isoformat(),
    }
    answers = [*pending["answers"], answer]
    outcome = rules.settled(dispute.parties, answers)
    changed = dict(pending) | {"answers": answers}
    if outcome is not None:
        changed |= {"status": "accepted" if outcome else "rejected", "answered_at": at.isoformat()}
    dispute.settlements = [*dispute.settlements[:-1], changed]
    _noted(dispute, at, f"settlement_{data.answer}ed", data.organisation_id, settlement_id=data.settlement_id)
    if outcome:
        _finish(
            session, dispute, "settled", at, {"settlement_id": data.settlement_id, "terms": pending["terms"]}
        )
    else:
        _publish(session, dispute, "updated", at)
    return dispute


def end_mediation(session: Session, data: MediationEnded, at: datetime) -> Dispute:
    dispute = get_dispute(session, data.dispute_id)
    obeying(lambda: rules.check_end(dispute.status, dispute.mediator, data.organisation_id))
    _noted(dispute, at, "mediation_failed", data.organisation_id, note=data.note)
    _finish(session, dispute, "escalated", at, {"reason": "mediator", "note": data.note})
    return dispute


def _finish(session: Session, dispute: Dispute, outcome: str, at: datetime, details: dict[str, Any]) -> None:
    """Settle or escalate the dispute: its agenda item follows (an escalated dispute comes to
    the next joint meeting with its history), and the outcome enters the county's chain."""
    dispute.status = outcome
    item = _agenda_item(session, dispute)
    if item is not None and item.status == "decided":
        item = None  # a meeting decided it already: its decision stands
    if outcome == "escalated":
        dispute.escalation = details | {"at": at.isoformat()}
        if item is not None:
            item.status = "pending"
            item.details = item.details | {"escalated": dispute.escalation, "history": dispute.history}
    elif item is not None:
        item.status = "settled"
    record = _record(session, dispute, outcome, at, details)
    dispute.record_id = record.id
    _publish(session, dispute, outcome, at)
    publish(session, "sifang.mediation.recorded.v1", record_data(record), dispute.region)


def _record(
    session: Session, dispute: Dispute, outcome: str, at: datetime, details: dict[str, Any]
) -> MediationRecord:
    county = county_of(dispute.region)
    last = session.scalar(
        select(MediationRecord)
        .where(MediationRecord.county == county)
        .order_by(MediationRecord.sequence.desc())
        .limit(1)
    )
    previous = last.record_hash if last else GENESIS
    content = {
        "dispute_id": dispute.id,
        "title": dispute.title,
        "parties": dispute.parties,
        "mediator": dispute.mediator,
        "outcome": outcome,
        "details": details,
        "statements": dispute.statements,
        "settlements": dispute.settlements,
        "history": dispute.history,
        "recorded_at": at.isoformat(),
    }
    record = MediationRecord(
        id=new_id(session),
        county=county,
        sequence=(last.sequence + 1) if last else 1,
        dispute_id=dispute.id,
        outcome=outcome,
        content=content,
        previous_hash=previous,
        record_hash=hash_record(previous, content),
        created_at=at,
    )
    session.add(record)
    session.flush()
    return record


def record_data(record: MediationRecord) -> MediationRecordData:
    return MediationRecordData(
        record_id=record.id,
        dispute_id=record.dispute_id,
        county=record.county,
        sequence=record.sequence,
        outcome=record.outcome,
        record_hash=record.record_hash,
        previous_hash=record.previous_hash,
        content=record.content,
    )


def decided_at_meeting(
    session: Session, dispute_id: str, *, meeting_id: str, decision_id: str, outcome: str, at: datetime
) -> None:
    """A joint meeting decided the dispute (it came to the agenda unmediated or escalated): the
    mediation ends there, whatever its step; a settled dispute is not on an agenda."""
    dispute = session.get(Dispute, dispute_id)
    if dispute is None or dispute.status in ("settled", "decided"):
        return
    dispute.status = "decided"
    _noted(
        dispute,
        at,
        "decided_at_meeting",
        None,
        meeting_id=meeting_id,
        decision_id=decision_id,
        outcome=outcome,
    )
    _publish(session, dispute, "updated", at)


def disputes_due(now: datetime) -> Select[str]:
    """Disputes whose step's deadline (or grace) has passed: the clock ticks for them."""
    return select(Dispute.id).where(Dispute.next_check.is_not(None), Dispute.next_check <= now)


def follow_time_limits(session: Session, now: datetime) -> list[Dispute]:
    """Remind those who must act when a step's limit passes; escalate at twice the limit."""
    changed = []
    for dispute in session.scalars(
        select(Dispute).where(Dispute.id.in_(disputes_due(now))).order_by(Dispute.id)
    ):
        due = rules.due(rule_state(dispute), now)
        if due is None:
            continue
        step = due.step
        if due.action == "remind":
            reminder = {
                "step": step.name,
                "awaiting": step.awaiting,
                "deadline": step.deadline.isoformat(),
                "at": now.isoformat(),
            }
            dispute.reminders = [*dispute.reminders, reminder]
            _noted(dispute, now, "reminder", None, step=step.name, awaiting=step.awaiting)
            _publish(session, dispute, "reminder", now)
        else:
            _noted(dispute, now, "time_limit_exceeded", None, step=step.name)
            _finish(session, dispute, "escalated", now, {"reason": "time_limit", "step": step.name})
        changed.append(dispute)
    return changed
