"""Request and response schemas of the stakeholder API, named by role."""

import json
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from shared.events.data import (
    CategoryCode,
    Contact,
    NeedData,
    OfferData,
    PositiveQuantity,
    RegionCode,
    StakeholderKind,
)
from shared.units import canonical_unit

__all__ = [
    "Description",
    "ListingCreate",
    "ListingUpdate",
    "NeedCreate",
    "NeedRead",
    "NeedUpdate",
    "OfferCreate",
    "OfferRead",
    "OfferUpdate",
    "OrganisationCreate",
    "OrganisationRead",
    "OrganisationRegistration",
    "Quantity",
    "Unit",
    "Window",
    "Withdrawal",
]


def _known_unit(unit: str) -> str:
    canonical_unit(unit)  # raises a ValueError naming the problem
    return unit.strip()


MAX_ATTRIBUTES_BYTES = 16_384


def _small(attributes: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(attributes, ensure_ascii=False).encode()) > MAX_ATTRIBUTES_BYTES:
        raise ValueError(f"attributes take at most {MAX_ATTRIBUTES_BYTES} bytes as JSON")
    return attributes


Attributes = Annotated[dict[str, Any], AfterValidator(_small)]
Unit = Annotated[str, Field(min_length=1, max_length=40), AfterValidator(_known_unit)]
Quantity = PositiveQuantity
Title = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=5000)]


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrganisationCreate(Schema):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    region: RegionCode
    contact: Contact = Contact()


class OrganisationRead(Schema):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    kind: StakeholderKind
    region: str
    contact: Contact
    created_at: datetime


class OrganisationRegistration(Schema):
    organisation: OrganisationRead
    api_key: str = Field(description="Shown once; only its digest is stored.")


class Window(Schema):
    window_start: date | None = None
    window_end: date | None = None

    @field_validator("window_end")
    @classmethod
    def _window_in_order(cls, end: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("window_start")
        if start and end and end < start:
            raise ValueError("window_end is before window_start")
        return end


class ListingCreate(Window):
    category: CategoryCode
    title: Title
    description: Description = ""
    quantity: Quantity
    unit: Unit
    region: RegionCode | None = Field(
        default=None, description="where it is; defaults to the organisation's region"
    )
    attributes: Attributes = Field(default_factory=dict)


class NeedCreate(ListingCreate):
    pass


class OfferCreate(ListingCreate):
    service_area: list[RegionCode] = Field(
        default_factory=list, description="regions it serves; defaults to its own region"
    )


class ListingUpdate(Window):
    """A partial change: only the fields given are changed."""

    category: CategoryCode | None = None
    title: Title | None = None
    description: Description | None = None
    quantity: Quantity | None = None
    unit: Unit | None = None
    region: RegionCode | None = None
    attributes: Attributes | None = None


class NeedUpdate(ListingUpdate):
    pass


class OfferUpdate(ListingUpdate):
    service_area: list[RegionCode] | None = None


class Withdrawal(Schema):
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


class _ListingState(BaseModel):
    status: Literal["open", "withdrawn"]
    withdrawn_reason: str | None
    created_at: datetime
    updated_at: datetime


class NeedRead(NeedData, _ListingState):
    model_config = ConfigDict(extra="ignore", frozen=False)


class OfferRead(OfferData, _ListingState):
    model_config = ConfigDict(extra="ignore", frozen=False)
