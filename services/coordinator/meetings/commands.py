"""The commands of running a meeting: what a coordinator asks for, as typed input (the JSON
body of an API call or a dashboard form). Each names its ``action``: how it travels through the
stream as an instruction (``services.coordinator.instructions``)."""

from datetime import date, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.coordinator.bus import CommandBody
from shared.events.data import InstructionAction, ProjectPlan, RegionCode, StakeholderKind

__all__ = [
    "ActionCreate",
    "AgendaEdit",
    "AgendaItemEdit",
    "Amendment",
    "Attendance",
    "AttendanceList",
    "Closing",
    "CompileAgenda",
    "DecisionCreate",
    "MeetingCreate",
    "Position",
    "PublishAgenda",
    "SeriesCreate",
]


class CompileAgenda(CommandBody):
    """Compile a draft agenda from live state (a new version)."""

    action: ClassVar[InstructionAction] = "compile_agenda"


class PublishAgenda(CommandBody):
    """Publish the latest agenda version to the invited."""

    action: ClassVar[InstructionAction] = "publish_agenda"


class SeriesCreate(CommandBody):
    action: ClassVar[InstructionAction] = "create_series"

    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: Literal["joint", "negotiation"]
    region: RegionCode
    cadence: Annotated[str, Field(max_length=200)] = "monthly"
    duration_minutes: Annotated[int, Field(ge=15, le=600)] = 120
    invited: list[str] = Field(min_length=1, description="ids of the invited organisations")
    quorum_kinds: list[StakeholderKind] = Field(default=["government", "enterprise", "ngo", "community"])


class MeetingCreate(CommandBody):
    action: ClassVar[InstructionAction] = "schedule_meeting"

    title: Annotated[str, Field(min_length=1, max_length=200)]
    starts_at: datetime
    duration_minutes: Annotated[int, Field(ge=15, le=600)] | None = None
    location: Annotated[str, Field(max_length=200)] = ""
    cutoff_hours: Annotated[float, Field(ge=0, le=24 * 30)] = 48

    @field_validator("starts_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give the time with its UTC offset, e.g. 2026-12-01T09:00:00+08:00")
        return value


class AgendaItemEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(default=None, description="an existing item's key; none for a new item")
    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    reason: Annotated[str, Field(max_length=1000)] | None = None
    minutes: Annotated[int, Field(ge=1, le=600)] | None = None


class AgendaEdit(CommandBody):
    action: ClassVar[InstructionAction] = "edit_agenda"

    items: list[AgendaItemEdit]
    note: Annotated[str, Field(max_length=1000)] = ""


class Attendance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: str
    present: bool
    representative: Annotated[str, Field(max_length=200)] = ""


class AttendanceList(CommandBody):
    action: ClassVar[InstructionAction] = "record_attendance"

    entries: list[Attendance] = Field(min_length=1)


class Position(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: str
    position: Literal["agree", "object", "abstain"]
    reason: Annotated[str, Field(max_length=2000)] = ""


class ActionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner_organisation_id: str
    title: Annotated[str, Field(min_length=1, max_length=200)]
    due_date: date
    links: list[str] = Field(default_factory=list, description="needs, offers or matches concerned")


class DecisionCreate(CommandBody):
    action: ClassVar[InstructionAction] = "record_decision"

    item_key: str
    outcome: Literal["approved", "rejected", "deferred", "referred"]
    positions: list[Position] = Field(default_factory=list)
    minutes: Annotated[str, Field(max_length=20000)] = ""
    actions: list[ActionCreate] = Field(default_factory=list)
    projects: list[ProjectPlan] = Field(
        default_factory=list,
        description="cross-sector projects an approving decision starts; the first member leads",
    )


class Closing(CommandBody):
    action: ClassVar[InstructionAction] = "close_meeting"

    minutes: Annotated[str, Field(max_length=50000)] = ""


class Amendment(CommandBody):
    action: ClassVar[InstructionAction] = "amend_record"

    text: Annotated[str, Field(min_length=1, max_length=20000)]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
