"""Response schemas of the meetings API. They give the JSON the routes have always returned:
times as ISO 8601 with their UTC offset (``+00:00``), agenda items as stored, actions and
records in the shape of their events; an agenda item's reason and rule also rendered in
Chinese and English."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema, computed_field

from shared.events.data import ActionData, RecordData
from shared.reasons import LANGUAGES, Language, agenda_reason, agenda_rule

__all__ = [
    "ActionRead",
    "AgendaItemRead",
    "AgendaOverflowRead",
    "AgendaVersionRead",
    "ChainCheck",
    "DecisionRead",
    "HistoryDecision",
    "HistoryMeeting",
    "InvitationRead",
    "MeetingDetail",
    "MeetingRead",
    "PositionRead",
    "QuorumRead",
    "RecordRead",
    "RecordWithChain",
    "SeriesDetail",
    "SeriesRead",
]


def _iso(value: datetime) -> str:
    return value.isoformat()


# A point in time as ``datetime.isoformat`` writes it (``…+00:00``, not pydantic's ``…Z``).
Instant = Annotated[
    datetime,
    PlainSerializer(_iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class SeriesRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    kind: str
    region: str
    cadence: str
    duration_minutes: int
    invited: list[str]
    quorum_kinds: list[str]


class ActionRead(ActionData):
    """An action item's current state, in the shape of its events."""


class HistoryDecision(BaseModel):
    id: str
    title: str
    outcome: str
    actions: list[ActionRead]


class HistoryMeeting(BaseModel):
    meeting_id: str
    title: str
    starts_at: Instant
    status: str
    decisions: list[HistoryDecision]


class ChainCheck(BaseModel):
    """The series' hash chain recomputed; ``head`` is given only when it is valid."""

    valid: bool
    records: int
    broken_at: int | None = Field(description="the sequence of the first record that does not fit")
    head: str | None = Field(default=None, description="the last record's hash (valid chains only)")


class SeriesDetail(SeriesRead):
    history: list[HistoryMeeting]
    record_chain: ChainCheck


class InvitationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    organisation_id: str
    reply: str
    delegate: str
    present: bool | None
    representative: str


class QuorumRead(BaseModel):
    met: bool
    required_kinds: list[str]
    present_kinds: list[str]
    missing_kinds: list[str]
    present: list[str] = Field(description="the organisations present")


class MeetingRead(BaseModel):
    id: str
    series_id: str
    title: str
    starts_at: Instant
    duration_minutes: int
    location: str
    cutoff_at: Instant
    status: str
    invitations: list[InvitationRead]


class MeetingDetail(MeetingRead):
    quorum: QuorumRead


class AgendaOverflowRead(BaseModel):
    """An agenda item that did not fit the meeting: it rolls to the next one.

    Why it is on the agenda and the rule that ranked it are codes with parameters
    (``reason_code``/``reason_params``, ``priority_rule_code``/``priority_params``), rendered
    in Chinese (``zh``) and English (``en``) in ``reason_text`` and ``priority_rule_text``.
    Versions stored before the codes have English ``reason`` and ``priority_rule`` instead."""

    key: str
    source: str
    title: str | None
    reason_code: str | None = Field(default=None, description="none in versions stored before codes")
    reason_params: dict[str, Any] = Field(default_factory=dict)
    reason: str = Field(
        default="", description="words a coordinator typed (an English sentence in older versions)"
    )
    link: str
    organisation_id: str | None
    since: str
    priority: int | None = Field(description="none for an item a coordinator added")
    priority_rule_code: str | None = Field(default=None, description="none in versions stored before codes")
    priority_params: dict[str, Any] = Field(default_factory=dict)
    priority_rule: str = Field(
        default="", description="versions stored before codes only: the rule in English"
    )
    minutes: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reason_text(self) -> dict[Language, str]:
        """Why the item is on the agenda, in each language."""
        item = {"reason": self.reason, "reason_code": self.reason_code, "reason_params": self.reason_params}
        return {lang: agenda_reason(item, lang) for lang in LANGUAGES}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def priority_rule_text(self) -> dict[Language, str]:
        """The rule that ranked the item, in each language."""
        item = {
            "priority_rule": self.priority_rule,
            "priority_rule_code": self.priority_rule_code,
            "priority_params": self.priority_params,
        }
        return {lang: agenda_rule(item, lang) for lang in LANGUAGES}


class AgendaItemRead(AgendaOverflowRead):
    """An agenda item with its time slot, in minutes from the start of the meeting."""

    start_minute: int
    end_minute: int


class AgendaVersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    meeting_id: str
    version: int
    items: list[AgendaItemRead]
    overflow: list[AgendaOverflowRead]
    made_by: str
    note: str
    published: bool
    created_at: Instant


class PositionRead(BaseModel):
    organisation_id: str
    position: Literal["agree", "object", "abstain"]
    reason: str = ""


class DecisionRead(BaseModel):
    id: str
    item_key: str
    title: str
    outcome: Literal["approved", "rejected", "deferred", "referred"]
    positions: list[PositionRead]
    minutes: str
    recorded_by: str
    actions: list[ActionRead]


class RecordRead(RecordData):
    """A record (minutes or an amendment) as published, with when it was made and locked."""

    created_at: Instant
    locked_at: Instant | None


class RecordWithChain(BaseModel):
    records: list[RecordRead]
    chain: ChainCheck
