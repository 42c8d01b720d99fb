"""The ``data`` of every event type: the message contract, one pydantic model per type."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.regions import validate_region
from shared.taxonomy import CATEGORIES

__all__ = [
    "ActionData",
    "ActionProgressed",
    "AgendaData",
    "AgendaItemProposed",
    "BudgetLine",
    "CategoryCode",
    "ClockTicked",
    "Contact",
    "CourseOffered",
    "DisputeData",
    "DisputeRaised",
    "EligibilityRules",
    "EventData",
    "Evidence",
    "FundAllocated",
    "FundDisbursed",
    "FundOpened",
    "FundReturned",
    "FundShare",
    "FundShares",
    "FundTrancheReceived",
    "InstructionAction",
    "InstructionIssued",
    "InvitationAnswered",
    "LotOffered",
    "MarketSignal",
    "MatchData",
    "MatchDelivery",
    "MatchResponse",
    "MediationEnded",
    "MediationRecordData",
    "MeetingData",
    "MilestonePlan",
    "MinutesApproved",
    "Money",
    "NeedData",
    "NeedWithdrawn",
    "OfferData",
    "OfferShared",
    "OfferWithdrawn",
    "OrganisationRegistered",
    "PlainDecimal",
    "PositiveQuantity",
    "ProcurementRequested",
    "ProgrammeOpened",
    "ProjectAnswered",
    "ProjectClosed",
    "ProjectData",
    "ProjectMember",
    "ProjectPlan",
    "ProjectProgressed",
    "ProjectProposed",
    "RecordData",
    "RegionCode",
    "SettlementAnswered",
    "SettlementProposed",
    "SharePurpose",
    "StakeholderKind",
    "StatementGiven",
]


def _known_category(code: str) -> str:
    if code not in CATEGORIES:
        raise ValueError(f"unknown category {code!r}; see GET /categories")
    return code


def _plain(value: Decimal) -> Decimal:
    """The same number without trailing zeros (``30.0000`` → ``30``), so it reads the same
    whichever database it came back from."""
    return Decimal(format(value.normalize(), "f"))


def _once(key: str, problem: str) -> AfterValidator:
    """A validator of a list whose items' ``key`` must differ (``problem`` says what repeats)."""

    def check(items: list[Any]) -> list[Any]:
        keys = [getattr(item, key) for item in items]
        if len(set(keys)) != len(keys):
            raise ValueError(problem)
        return items

    return AfterValidator(check)


RegionCode = Annotated[str, AfterValidator(validate_region)]
CategoryCode = Annotated[str, AfterValidator(_known_category)]
StakeholderKind = Literal["government", "enterprise", "ngo", "community"]
PositiveQuantity = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=4), AfterValidator(_plain)]
PlainDecimal = Annotated[Decimal, AfterValidator(_plain)]
Money = Annotated[
    Decimal,
    Field(gt=0, max_digits=14, decimal_places=2, description="yuan, exact to the fen"),
    AfterValidator(_plain),
]


class EventData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(EventData):
    person: str = Field(default="", max_length=100)
    phone: str = Field(default="", max_length=40)
    email: str = Field(default="", max_length=200)


class OrganisationRegistered(EventData):
    organisation_id: str
    name: str
    kind: StakeholderKind
    region: RegionCode
    contact: Contact


class _WindowMixin(EventData):
    window_start: date | None = None
    window_end: date | None = None

    @field_validator("window_end")
    @classmethod
    def _window_in_order(cls, end: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("window_start")
        if start and end and end < start:
            raise ValueError("window_end is before window_start")
        return end


class NeedData(_WindowMixin):
    """The whole state of a need; published on creation and on every change."""

    need_id: str
    organisation_id: str
    category: CategoryCode
    title: str
    description: str
    quantity: PositiveQuantity
    unit: str
    region: RegionCode
    attributes: dict[str, Any]
    version: int = Field(ge=1)


class OfferData(_WindowMixin):
    """The whole state of an offer; published on creation and on every change."""

    offer_id: str
    organisation_id: str
    category: CategoryCode
    title: str
    description: str
    quantity: PositiveQuantity
    unit: str
    region: RegionCode
    service_area: list[RegionCode]
    attributes: dict[str, Any]
    version: int = Field(ge=1)


class NeedWithdrawn(EventData):
    need_id: str
    organisation_id: str
    reason: str
    version: int | None = Field(
        default=None, ge=1, description="the version withdrawn: it applies after that version"
    )


class OfferWithdrawn(EventData):
    offer_id: str
    organisation_id: str
    reason: str
    version: int | None = Field(
        default=None, ge=1, description="the version withdrawn: it applies after that version"
    )


class EligibilityRules(EventData):
    """Machine-readable rules saying which organisations a government programme may serve."""

    organisation_kinds: list[StakeholderKind] = Field(
        default_factory=list, description="kinds that may apply; empty means any kind"
    )
    regions: list[RegionCode] = Field(
        default_factory=list, description="regions the applicant must lie in; empty means any"
    )
    required_certifications: list[str] = Field(default_factory=list)
    max_amount: PlainDecimal | None = Field(default=None, gt=0, description="most one applicant gets")


class ProgrammeOpened(_WindowMixin):
    programme_id: str
    organisation_id: str
    offer_id: str
    name: str
    programme_kind: Literal["subsidy", "fund", "training"]
    budget: PositiveQuantity
    unit: str
    eligibility: EligibilityRules


class ProcurementRequested(_WindowMixin):
    request_id: str
    organisation_id: str
    need_id: str
    product_category: CategoryCode
    grade: str
    quantity: PositiveQuantity
    unit: str
    max_price_per_unit: PlainDecimal | None = None


class CourseOffered(EventData):
    course_id: str
    organisation_id: str
    offer_id: str
    title: str
    tier: Literal["basic", "advanced", "incubation"]
    seats: int = Field(gt=0)
    start_date: date
    end_date: date
    venue: str


class LotOffered(_WindowMixin):
    lot_id: str
    organisation_id: str
    offer_id: str
    product_category: CategoryCode
    variety: str
    grade: str
    quantity: PositiveQuantity
    unit: str
    certifications: list[str]


MatchStatus = Literal["proposed", "confirmed", "fulfilled", "declined", "expired", "withdrawn"]


class MatchData(EventData):
    """The whole state of a match the coordinator proposed; published on every change."""

    match_id: str
    need_id: str
    offer_id: str
    need_organisation_id: str
    offer_organisation_id: str
    category: str
    quantity: PositiveQuantity
    unit: str
    offer_quantity: PositiveQuantity
    offer_unit: str
    score: float
    status: MatchStatus
    accepted_by: list[str]
    fulfilled_quantity: PlainDecimal
    proposed_at: datetime
    expires_at: datetime | None
    reason: str
    explanation: dict[str, Any]
    version: int | None = Field(
        default=None, ge=1, description="the match's version: a newer state always has a higher one"
    )


class MatchResponse(EventData):
    """A party's answer to a proposed match."""

    match_id: str
    organisation_id: str
    reason: str = Field(default="", max_length=1000)
    version: int | None = Field(
        default=None,
        ge=1,
        description=(
            "The version of the proposal the party answered. An acceptance of an older version "
            "(the quantity was amended since) is not counted; without it, the current one is meant."
        ),
    )


class MatchDelivery(EventData):
    """A party's report of what was delivered under a confirmed match (in the need's unit)."""

    delivery_id: str
    match_id: str
    organisation_id: str
    quantity: PositiveQuantity
    note: str = Field(default="", max_length=2000)
    evidence_url: str = Field(default="", max_length=500)


class AgendaItemProposed(EventData):
    """An organisation asks for an item on the agenda of a meeting series (or of its region)."""

    proposal_id: str
    organisation_id: str
    series_id: str | None = None
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    links: list[str] = Field(default_factory=list)


class DisputeRaised(EventData):
    """A community raises a dispute for the joint meeting to take up."""

    dispute_id: str
    organisation_id: str
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    other_parties: list[str] = Field(default_factory=list)
    region: RegionCode


class StatementGiven(EventData):
    """A party to a dispute states its case to the mediator."""

    statement_id: str
    dispute_id: str
    organisation_id: str
    statement: str = Field(min_length=1, max_length=3000)
    evidence_url: str = Field(default="", max_length=500)


class SettlementProposed(EventData):
    """The mediator proposes a settlement the parties accept or reject."""

    settlement_id: str
    dispute_id: str
    organisation_id: str = Field(description="the mediator")
    terms: str = Field(min_length=1, max_length=5000)


class SettlementAnswered(EventData):
    """A party accepts or rejects the settlement awaiting its answer."""

    dispute_id: str
    settlement_id: str
    organisation_id: str
    answer: Literal["accept", "reject"]
    reason: str = Field(default="", max_length=1000)


class MediationEnded(EventData):
    """The mediator declares the mediation failed: the dispute goes to the joint meeting."""

    dispute_id: str
    organisation_id: str = Field(description="the mediator")
    note: str = Field(min_length=1, max_length=2000)


class DisputeData(EventData):
    """The whole state of a dispute in mediation, published on every change; ``step``,
    ``awaiting`` and ``deadline`` say what it waits for, from whom, until when."""

    dispute_id: str
    title: str
    description: str
    region: str
    raised_by: str
    parties: list[str]
    mediator_organisation_id: str | None
    status: Literal["awaiting_mediator", "in_mediation", "settled", "escalated", "decided"]
    step: Literal["assign_mediator", "statements", "settlement", "answers"] | None
    awaiting: list[str]
    deadline: datetime | None
    statements: list[dict[str, Any]]
    settlements: list[dict[str, Any]]
    reminders: list[dict[str, Any]]
    history: list[dict[str, Any]]
    escalation: dict[str, Any] | None
    record_id: str | None = Field(description="its outcome's record in the county's chain")
    concerns: list[str] = Field(description="the parties and the mediator")
    version: int = Field(ge=1)


class MediationRecordData(EventData):
    """A mediation's outcome in its county's hash chain (SHA-256 over the previous record's
    hash and the content as canonical JSON, like meeting records)."""

    record_id: str
    dispute_id: str
    county: str
    sequence: int = Field(ge=1)
    outcome: Literal["settled", "escalated"]
    record_hash: str
    previous_hash: str
    content: dict[str, Any]


class InvitationAnswered(EventData):
    meeting_id: str
    organisation_id: str
    reply: Literal["attend", "decline", "delegate"]
    delegate: str = Field(default="", max_length=200)


class ActionProgressed(EventData):
    """The owner of an action item reports progress on it."""

    progress_id: str
    action_id: str
    organisation_id: str
    status: Literal["in_progress", "done", "blocked"]
    note: str = Field(default="", max_length=2000)
    evidence_url: str = Field(default="", max_length=500)


class MinutesApproved(EventData):
    """A party approves the minutes of a meeting, naming the exact record it approves."""

    meeting_id: str
    organisation_id: str
    record_hash: str


class MeetingData(EventData):
    """A meeting as scheduled, with whom it invites."""

    meeting_id: str
    series_id: str
    series_name: str
    meeting_kind: Literal["joint", "negotiation"]
    region: RegionCode
    title: str
    starts_at: datetime
    duration_minutes: int
    location: str
    invited: list[str]
    status: str


class AgendaData(EventData):
    """A published agenda: ranked, time-boxed items with their sources and reasons."""

    meeting_id: str
    version: int
    invited: list[str]
    items: list[dict[str, Any]]


class ActionData(EventData):
    """The whole state of an action item decided at a meeting."""

    action_id: str
    meeting_id: str
    decision_id: str
    owner_organisation_id: str
    title: str
    due_date: date
    status: Literal["open", "in_progress", "blocked", "done", "overdue"]
    links: list[str]
    progress: list[dict[str, Any]]
    version: int | None = Field(
        default=None, ge=1, description="the action's version: a newer state always has a higher one"
    )


class RecordData(EventData):
    """A meeting record (minutes or an amendment) in the series' hash chain."""

    record_id: str
    meeting_id: str
    sequence: int
    record_kind: Literal["minutes", "amendment"]
    record_hash: str
    previous_hash: str
    parties: list[str]
    approved_by: list[str]
    locked: bool
    content: dict[str, Any]


class OfferShared(EventData):
    """An offer that serves counties beyond its coordinator's partition, as its owner sees it:
    only the owner allocates it; the coordinators of those counties learn what remains of it
    (``remaining``, in the offer's unit) and show it to their needs that it could serve."""

    offer_id: str
    offer: OfferData = Field(description="the offer's state as its owner's book holds it")
    status: Literal["open", "withdrawn"]
    remaining: PlainDecimal = Field(ge=0, description="what no match holds yet, in the offer's unit")
    owner: str = Field(description="the consumer (coordinator partition) that owns and allocates it")


class MarketSignal(EventData):
    """A county's category family changed state for a month: short of supply, in glut, or
    balanced again (see ``services/coordinator/market/rules.py`` for the rule)."""

    signal_id: str
    county: str = Field(pattern=r"^[0-9]{6}$", description="the county (six-digit GB/T 2260 code)")
    family: str = Field(max_length=100, description="the category family: the first two levels")
    dimension: str = Field(max_length=40, description="what the quantities measure, e.g. [mass]")
    base_unit: str = Field(max_length=20, description="the unit demand and supply are summed in")
    month: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}$", description="the month, China Standard Time")
    state: Literal["shortage", "glut", "balanced"]
    previous_state: Literal["shortage", "glut", "balanced"]
    reason: dict[str, Any] = Field(description="a code and its parameters, rendered per language")
    needs: int = Field(ge=0)
    offers: int = Field(ge=0)
    demand: float = Field(ge=0, description="needs' quantity in the base unit")
    supply: float = Field(ge=0, description="offers' quantity in the base unit")
    matched_share: float | None = Field(description="share of the demand confirmed matches cover")
    balance: float | None = Field(description="(demand - supply) / (demand + supply)")
    baseline: float = Field(description="the mean balance of the family's earlier months here")
    at: datetime


SharePurpose = Literal["ecommerce_infrastructure", "social_work", "other"]
ShareKey = Annotated[
    str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="the share's key within its fund")
]


class FundShare(EventData):
    """An earmarked part of a special fund."""

    share: ShareKey
    name: str = Field(min_length=1, max_length=200)
    purpose: SharePurpose = Field(
        description="e-commerce infrastructure (network, logistics points, cold chain), "
        "social-work service projects, or other"
    )
    amount: Money = Field(description="the amount earmarked for the share, in yuan")


FundShares = Annotated[
    list[FundShare], Field(min_length=1, max_length=20), _once("share", "two shares have the same key")
]


class _FundEntry(EventData):
    """What every entry of a fund's ledger carries: the fund, its owner, its place in the ledger."""

    fund_id: str
    organisation_id: str
    version: int = Field(
        ge=1, description="the entry's place in the fund's ledger: 1 opens it, each entry adds one"
    )


class FundOpened(_FundEntry):
    """A government organisation set up a special fund (专项资金) with earmarked shares."""

    name: str = Field(min_length=1, max_length=200)
    fiscal_year: int = Field(ge=2000, le=2100)
    region: RegionCode
    description: str = Field(default="", max_length=5000)
    shares: FundShares


class FundTrancheReceived(_FundEntry):
    """Money arrived in the fund (a transfer, a budget release), split over its shares."""

    tranche_id: str
    received_on: date
    source: str = Field(default="", max_length=200, description="where the money came from")
    amounts: dict[ShareKey, Money] = Field(min_length=1, description="yuan per share key")


class FundAllocated(_FundEntry):
    """Part of a share was committed to a project or to a confirmed match of a funding programme."""

    allocation_id: str
    share: ShareKey
    amount: Money
    allocated_on: date
    township: RegionCode = Field(description="where the money is spent (a township, or the county)")
    purpose: str = Field(min_length=1, max_length=500)
    recipient_organisation_id: str | None = Field(default=None, description="a registered organisation")
    recipient_name: str = Field(default="", max_length=200)
    match_id: str | None = Field(default=None, description="the confirmed match it funds, if any")
    project: str = Field(default="", max_length=200, description="the project it funds, if not a match")
    project_id: str | None = Field(default=None, description="the cross-sector project it funds, if any")
    budget_line: str | None = Field(default=None, description="the project's budget line it funds")


class Evidence(EventData):
    """What a payment rests on: a document's kind, its reference and, optionally, its digest."""

    kind: Literal["invoice", "contract", "acceptance", "receipt", "photo", "other"]
    reference: str = Field(min_length=1, max_length=200)
    sha256: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")


class FundDisbursed(_FundEntry):
    """Money of an allocation was paid out, against evidence."""

    disbursement_id: str
    allocation_id: str
    amount: Money
    paid_on: date
    evidence: list[Evidence] = Field(min_length=1, max_length=20)


class FundReturned(_FundEntry):
    """Money of an allocation went back to its share: repaid after it was paid out, or an
    undisbursed commitment released."""

    return_id: str
    allocation_id: str
    return_kind: Literal["repaid", "released"]
    amount: Money
    returned_on: date
    reason: str = Field(min_length=1, max_length=1000)


class ProjectMember(EventData):
    organisation_id: str
    role: str = Field(min_length=1, max_length=100, description="what the member does in the project")


class MilestonePlan(EventData):
    milestone_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    title: str = Field(min_length=1, max_length=200)
    due_date: date


class BudgetLine(EventData):
    """A line of a project's budget; one that names a fund's share may be funded from it."""

    line: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    title: str = Field(min_length=1, max_length=200)
    amount: Money
    fund_id: str | None = Field(default=None, description="the special fund it draws on, if any")
    share: ShareKey | None = Field(default=None, description="the fund's share it draws on")

    @model_validator(mode="after")
    def _share_with_fund(self) -> "BudgetLine":
        if (self.share is None) != (self.fund_id is None):
            raise ValueError("a line that draws on a fund names both the fund and its share")
        return self


class ProjectPlan(EventData):
    """What a cross-sector project is to be: its members (two kinds of party at least), its
    milestones and its budget."""

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    region: RegionCode
    members: Annotated[
        list[ProjectMember],
        Field(min_length=2, max_length=20),
        _once("organisation_id", "an organisation is named twice"),
    ]
    milestones: Annotated[
        list[MilestonePlan],
        Field(min_length=1, max_length=20),
        _once("milestone_id", "two milestones have the same id"),
    ]
    budget_lines: Annotated[
        list[BudgetLine], Field(max_length=30), _once("line", "two budget lines have the same key")
    ] = Field(default_factory=list)


class ProjectProposed(ProjectPlan):
    """A party proposes a cross-sector project it leads; the other members answer."""

    project_id: str
    organisation_id: str = Field(description="the lead, one of the members")


class ProjectAnswered(EventData):
    """A member invited to a project joins it or declines."""

    project_id: str
    organisation_id: str
    answer: Literal["join", "decline"]
    reason: str = Field(default="", max_length=1000)


class ProjectProgressed(EventData):
    """A member reports on a milestone of a project it belongs to."""

    progress_id: str
    project_id: str
    organisation_id: str
    milestone_id: str
    status: Literal["in_progress", "done", "blocked"]
    note: str = Field(default="", max_length=2000)
    evidence_url: str = Field(default="", max_length=500)


class ProjectClosed(EventData):
    """The lead closes a project with its closing report."""

    project_id: str
    organisation_id: str
    outcome: Literal["completed", "abandoned"]
    report: str = Field(min_length=1, max_length=20000)
    evidence_url: str = Field(default="", max_length=500)


class ProjectData(EventData):
    """The whole state of a cross-sector project as the coordinator keeps it; published on
    every change, with the organisations it concerns (members, and the owners of the funds its
    budget draws on)."""

    project_id: str
    title: str
    description: str
    region: str
    lead_organisation_id: str
    origin: dict[str, Any] = Field(description="who started it: a party, or a meeting's decision")
    status: Literal["proposed", "active", "completed", "abandoned"]
    status_reason: dict[str, Any] = Field(description="why it is in that status: a code and parameters")
    members: list[dict[str, Any]]
    milestones: list[dict[str, Any]]
    budget_lines: list[dict[str, Any]]
    closing: dict[str, Any] | None
    concerns: list[str] = Field(description="the organisations it concerns")
    version: int = Field(ge=1)


class ClockTicked(EventData):
    """An instant the coordinator's clock-driven work ran at, recorded so a replay uses it too."""

    tick_id: str
    coordinator: str = Field(description="the consumer (coordinator) whose work this tick runs")
    at: datetime


InstructionAction = Literal[
    "assign_mediator",
    "withdraw_match",
    "nudge_match",
    "create_series",
    "schedule_meeting",
    "compile_agenda",
    "edit_agenda",
    "publish_agenda",
    "record_attendance",
    "record_decision",
    "close_meeting",
    "amend_record",
]


class InstructionIssued(EventData):
    """A coordinator's instruction to the coordinator service: withdraw or nudge a proposal, or
    one step of running a meeting. ``arguments`` is the step's typed command as JSON."""

    instruction_id: str
    action: InstructionAction
    target: str = Field(
        max_length=100, description="the match, series or meeting acted on; empty for a new series"
    )
    coordinator: str = Field(max_length=100, description="who gave the instruction")
    reason: str = Field(default="", max_length=1000)
    arguments: dict[str, Any] = Field(default_factory=dict)
    at: datetime
