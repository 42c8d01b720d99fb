"""The event catalogue: every event type Sifang publishes, with its version, data model,
subject pattern and the kinds of service allowed to publish it.

Event types are named ``sifang.<entity>.<verb>.v<N>``; an additive change to a data model
keeps N, a breaking one adds a new entry with N+1.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel

from shared.events.data import (
    ActionData,
    ActionProgressed,
    AgendaData,
    AgendaItemProposed,
    ClockTicked,
    CourseOffered,
    DisputeData,
    DisputeRaised,
    EventData,
    FundAllocated,
    FundDisbursed,
    FundOpened,
    FundReturned,
    FundTrancheReceived,
    InstructionIssued,
    InvitationAnswered,
    LotOffered,
    MarketSignal,
    MatchData,
    MatchDelivery,
    MatchResponse,
    MediationEnded,
    MediationRecordData,
    MeetingData,
    MinutesApproved,
    NeedData,
    NeedWithdrawn,
    OfferData,
    OfferShared,
    OfferWithdrawn,
    OrganisationRegistered,
    ProcurementRequested,
    ProgrammeOpened,
    ProjectAnswered,
    ProjectClosed,
    ProjectData,
    ProjectProgressed,
    ProjectProposed,
    RecordData,
    SettlementAnswered,
    SettlementProposed,
    StatementGiven,
)
from shared.events.envelope import CloudEvent, InvalidEvent, new_event_id
from shared.events.subjects import STAKEHOLDER_KINDS, subject_for

__all__ = ["CATALOGUE", "EventType", "event_type_for"]


@dataclass(frozen=True)
class EventType:
    entity: str
    verb: str
    version: int
    data_model: type[EventData]
    id_field: str
    publishers: tuple[str, ...]
    description: str

    @property
    def type(self) -> str:
        return f"sifang.{self.entity}.{self.verb}.v{self.version}"

    @property
    def subject_pattern(self) -> str:
        return f"sifang.{{kind}}.{{region}}.{self.entity}.{self.verb}"

    def build(
        self,
        *,
        kind: str,
        organisation_id: str,
        region: str,
        data: BaseModel,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        event_id: str | None = None,
        time: datetime | None = None,
        trace_context: Mapping[str, str] | None = None,
    ) -> tuple[str, CloudEvent]:
        """The NATS subject and the envelope of a new event of this type.

        ``event_id`` and ``time`` default to a fresh UUIDv7 and now; decisions derived from
        another event pass both, so that a replay derives the same event.
        """
        if not isinstance(data, self.data_model):
            raise TypeError(f"{self.type} carries {self.data_model.__name__}")
        payload = data.model_dump(mode="json")
        event_id = event_id or new_event_id()
        event = CloudEvent(
            id=event_id,
            time=time or datetime.now(UTC),
            source=f"/sifang/{kind}/{organisation_id}",
            type=self.type,
            subject=str(payload[self.id_field]),
            dataschema=f"urn:sifang:event:{self.type}",
            region=region[:6],
            correlationid=correlation_id or event_id,  # a new conversation: named by its first event
            causationid=causation_id,
            data=payload,
            **dict(trace_context or {}),  # traceparent, tracestate
        )
        return subject_for(kind, region, self.entity, self.verb), event


def _types(*types: EventType) -> dict[str, EventType]:
    return {t.type: t for t in types}


CATALOGUE: dict[str, EventType] = _types(
    EventType(
        "organisation",
        "registered",
        1,
        OrganisationRegistered,
        "organisation_id",
        STAKEHOLDER_KINDS,
        "An organisation joined through its stakeholder service.",
    ),
    EventType(
        "need",
        "published",
        1,
        NeedData,
        "need_id",
        STAKEHOLDER_KINDS,
        "An organisation published what it needs.",
    ),
    EventType(
        "need",
        "updated",
        1,
        NeedData,
        "need_id",
        STAKEHOLDER_KINDS,
        "A need changed; the data is its whole new state.",
    ),
    EventType(
        "need",
        "withdrawn",
        1,
        NeedWithdrawn,
        "need_id",
        STAKEHOLDER_KINDS,
        "A need was withdrawn by its organisation.",
    ),
    EventType(
        "offer",
        "published",
        1,
        OfferData,
        "offer_id",
        STAKEHOLDER_KINDS,
        "An organisation published what it can offer.",
    ),
    EventType(
        "offer",
        "updated",
        1,
        OfferData,
        "offer_id",
        STAKEHOLDER_KINDS,
        "An offer changed; the data is its whole new state.",
    ),
    EventType(
        "offer",
        "withdrawn",
        1,
        OfferWithdrawn,
        "offer_id",
        STAKEHOLDER_KINDS,
        "An offer was withdrawn by its organisation.",
    ),
    EventType(
        "programme",
        "opened",
        1,
        ProgrammeOpened,
        "programme_id",
        ("government",),
        "A government programme (subsidy, fund, training) opened with eligibility rules.",
    ),
    EventType(
        "procurement",
        "requested",
        1,
        ProcurementRequested,
        "request_id",
        ("enterprise",),
        "An enterprise asked to buy produce.",
    ),
    EventType(
        "course",
        "offered",
        1,
        CourseOffered,
        "course_id",
        ("ngo",),
        "A social organisation offered a training course.",
    ),
    EventType(
        "lot",
        "offered",
        1,
        LotOffered,
        "lot_id",
        ("community",),
        "A village or cooperative offered a lot of produce.",
    ),
    EventType(
        "match",
        "accepted",
        1,
        MatchResponse,
        "match_id",
        STAKEHOLDER_KINDS,
        "A party accepted a proposed match.",
    ),
    EventType(
        "match",
        "rejected",
        1,
        MatchResponse,
        "match_id",
        STAKEHOLDER_KINDS,
        "A party declined a proposed match, with its reason.",
    ),
    EventType(
        "match",
        "delivered",
        1,
        MatchDelivery,
        "delivery_id",
        STAKEHOLDER_KINDS,
        "A party reported a delivery under a confirmed match (partial quantities allowed).",
    ),
    *(
        EventType("match", verb, 1, MatchData, "match_id", ("coordinator",), text)
        for verb, text in (
            ("proposed", "The coordinator proposed a match, with its explanation."),
            (
                "amended",
                "A proposal nobody has answered yet gets a new quantity (the fair split of its offer "
                "moved); same id, a new version and explanation, the same time to answer.",
            ),
            ("withdrawn", "A proposal is no longer valid (a side changed, or a better allocation)."),
            ("confirmed", "Both parties accepted: the capacity is reserved."),
            ("declined", "A party declined: the quantity returns to the pool."),
            ("expired", "The parties did not answer in time: the quantity returns to the pool."),
            ("delivery_recorded", "A delivery was recorded; the status says whether it is fulfilled."),
        )
    ),
    EventType(
        "agenda_item",
        "proposed",
        1,
        AgendaItemProposed,
        "proposal_id",
        STAKEHOLDER_KINDS,
        "An organisation proposed an item for a joint meeting's agenda.",
    ),
    EventType(
        "dispute",
        "raised",
        1,
        DisputeRaised,
        "dispute_id",
        ("community",),
        "A village or cooperative raised a dispute for the joint meeting.",
    ),
    EventType(
        "dispute",
        "statement_given",
        1,
        StatementGiven,
        "dispute_id",
        STAKEHOLDER_KINDS,
        "A party to a dispute stated its case to the mediator.",
    ),
    EventType(
        "dispute",
        "settlement_proposed",
        1,
        SettlementProposed,
        "dispute_id",
        ("ngo",),
        "The mediator (a social-work organisation) proposed a settlement.",
    ),
    EventType(
        "dispute",
        "settlement_answered",
        1,
        SettlementAnswered,
        "dispute_id",
        STAKEHOLDER_KINDS,
        "A party accepted or rejected the settlement awaiting its answer.",
    ),
    EventType(
        "dispute",
        "mediation_ended",
        1,
        MediationEnded,
        "dispute_id",
        ("ngo",),
        "The mediator declared the mediation failed: the dispute goes to the joint meeting.",
    ),
    *(
        EventType("dispute", verb, 1, DisputeData, "dispute_id", ("coordinator",), text)
        for verb, text in (
            ("updated", "A dispute's whole state in mediation: step, who must act, deadline, history."),
            ("reminder", "A step's time limit passed: those who must act are reminded."),
            ("settled", "Every party accepted the mediator's settlement."),
            ("escalated", "Mediation failed or ran out of time: the dispute goes to the next joint meeting."),
        )
    ),
    EventType(
        "mediation",
        "recorded",
        1,
        MediationRecordData,
        "record_id",
        ("coordinator",),
        "A mediation's outcome entered its county's hash chain.",
    ),
    EventType(
        "invitation",
        "answered",
        1,
        InvitationAnswered,
        "meeting_id",
        STAKEHOLDER_KINDS,
        "An invited organisation will attend, declines, or sends a delegate.",
    ),
    EventType(
        "action",
        "progressed",
        1,
        ActionProgressed,
        "action_id",
        STAKEHOLDER_KINDS,
        "The owner of an action item reported progress (status, note, evidence).",
    ),
    EventType(
        "minutes",
        "approved",
        1,
        MinutesApproved,
        "meeting_id",
        STAKEHOLDER_KINDS,
        "A party approved the minutes of a meeting, by their hash.",
    ),
    EventType(
        "meeting",
        "scheduled",
        1,
        MeetingData,
        "meeting_id",
        ("coordinator",),
        "A meeting was scheduled; the invited organisations are named.",
    ),
    EventType(
        "agenda",
        "published",
        1,
        AgendaData,
        "meeting_id",
        ("coordinator",),
        "A meeting's agenda was published.",
    ),
    *(
        EventType("action", verb, 1, ActionData, "action_id", ("coordinator",), text)
        for verb, text in (
            ("assigned", "A meeting decided an action and gave it to an owner organisation."),
            ("updated", "An action item changed (progress reported)."),
            ("overdue", "An action item passed its due date unfinished."),
        )
    ),
    *(
        EventType("record", verb, 1, RecordData, "record_id", ("coordinator",), text)
        for verb, text in (
            ("closed", "A meeting was closed; its minutes await the parties' approval."),
            ("locked", "Every party approved the minutes: the record is fixed."),
            ("amended", "A correction was appended to a locked record, as an amendment."),
        )
    ),
    EventType(
        "offer",
        "shared",
        1,
        OfferShared,
        "offer_id",
        ("coordinator",),
        "An offer whose service area reaches counties of other coordinator partitions, with what "
        "remains of it: published by the partition that owns (and alone allocates) it to each such "
        "county, on every change of the offer or of its remaining capacity.",
    ),
    EventType(
        "market",
        "signal",
        1,
        MarketSignal,
        "signal_id",
        ("coordinator",),
        "A county's category family changed state for a month — short of supply, in glut, or "
        "balanced again — judged against its own history; with the figures behind it.",
    ),
    *(
        EventType("fund", verb, 1, model, "fund_id", ("government",), text)
        for verb, model, text in (
            (
                "opened",
                FundOpened,
                "A county bureau set up a special fund with earmarked shares (ledger entry 1).",
            ),
            (
                "tranche_received",
                FundTrancheReceived,
                "Money arrived in a fund, split over its shares; a share never receives more "
                "than it earmarks.",
            ),
            (
                "allocated",
                FundAllocated,
                "Part of a share was committed to a project or a confirmed match; a share's "
                "commitments never exceed its earmark.",
            ),
            (
                "disbursed",
                FundDisbursed,
                "Money of an allocation was paid out against evidence; never more than the "
                "allocation, nor than the share received.",
            ),
            (
                "returned",
                FundReturned,
                "Money of an allocation went back to its share: repaid, or an undisbursed "
                "commitment released.",
            ),
        )
    ),
    EventType(
        "project",
        "proposed",
        1,
        ProjectProposed,
        "project_id",
        STAKEHOLDER_KINDS,
        "A party proposed a cross-sector project it leads: members and roles, milestones, budget lines.",
    ),
    EventType(
        "project",
        "answered",
        1,
        ProjectAnswered,
        "project_id",
        STAKEHOLDER_KINDS,
        "A member invited to a project joined it or declined.",
    ),
    EventType(
        "project",
        "progressed",
        1,
        ProjectProgressed,
        "project_id",
        STAKEHOLDER_KINDS,
        "A member reported on a milestone (status, note, evidence).",
    ),
    EventType(
        "project",
        "closed",
        1,
        ProjectClosed,
        "project_id",
        STAKEHOLDER_KINDS,
        "The lead closed a project with its closing report.",
    ),
    *(
        EventType("project", verb, 1, ProjectData, "project_id", ("coordinator",), text)
        for verb, text in (
            (
                "updated",
                "A cross-sector project's whole state, on every change (members, milestones, budget).",
            ),
            ("overdue", "A milestone of an active project passed its due date unfinished."),
        )
    ),
    EventType(
        "clock",
        "ticked",
        1,
        ClockTicked,
        "tick_id",
        ("coordinator",),
        "The coordinator's clock-driven work (expiries, overdue actions, agendas at their cut-off, "
        "held events whose wait ran out) ran at this instant; applied from the stream.",
    ),
    EventType(
        "instruction",
        "issued",
        1,
        InstructionIssued,
        "instruction_id",
        ("coordinator",),
        "A coordinator withdrew or nudged a proposal; applied from the stream like any event.",
    ),
)


def event_type_for(event: CloudEvent) -> EventType:
    """The catalogue entry of ``event``; raises :class:`InvalidEvent` if there is none."""
    try:
        return CATALOGUE[event.type]
    except KeyError:
        raise InvalidEvent(f"unknown event type {event.type!r}") from None
