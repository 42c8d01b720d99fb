"""Request and response schemas of the stakeholder API, named by role."""

import json
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
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
from shared.requirements import (
    OLDER_REQUIREMENT_KEYS,
    Qualities,
    Requirements,
    quality_conflicts,
    requirement_conflicts,
    stated,
    without_keys,
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


def _typed_keys(model: type[Requirements] | type[Qualities], attributes: dict[str, Any]) -> None:
    """Refuse a key of ``model`` stated in loose attributes with a value it does not take:
    a hard filter must not be ignored because it was mistyped."""
    try:
        model.model_validate(stated(model, attributes))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or model.__name__.lower()
        raise ValueError(f"{where}: {error['msg']}") from None


def _requirement_keys(attributes: dict[str, Any] | None) -> dict[str, Any] | None:
    if attributes is not None:
        _typed_keys(Requirements, attributes)
    return attributes


def _quality_keys(attributes: dict[str, Any] | None) -> dict[str, Any] | None:
    if attributes is not None:
        _typed_keys(Qualities, attributes)
    return attributes


def _stated_once(conflicts: list[str], typed: str) -> None:
    if conflicts:
        named = ", ".join(conflicts)
        raise ValueError(f"attributes state {named} otherwise than {typed}: state each once")


def _requirements_once(requirements: Requirements | None, info: ValidationInfo) -> Requirements | None:
    if requirements is not None:
        attributes = info.data.get("attributes") or {}
        _stated_once(requirement_conflicts(attributes, requirements), "requirements")
    return requirements


def _qualities_once(qualities: Qualities | None, info: ValidationInfo) -> Qualities | None:
    if qualities is not None:
        _stated_once(quality_conflicts(info.data.get("attributes") or {}, qualities), "qualities")
    return qualities


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

    def listing_attributes(self) -> dict[str, Any]:
        """The attributes to store: ``attributes`` with the typed fields merged in."""
        return self.attributes


REQUIREMENTS_DESCRIPTION = (
    "what an offer must meet (required_*: hard filters, an offer that fails one is never "
    "proposed) and what it is preferred for (preferred_*: score terms); stored in attributes"
)
QUALITIES_DESCRIPTION = (
    "what the offer states about itself, checked against needs' requirements; stored in attributes"
)


class NeedCreate(ListingCreate):
    requirements: Requirements | None = Field(default=None, description=REQUIREMENTS_DESCRIPTION)

    _typed_attributes = field_validator("attributes")(_requirement_keys)

    _once = field_validator("requirements")(_requirements_once)

    def listing_attributes(self) -> dict[str, Any]:
        if self.requirements is None:
            return self.attributes
        return self.attributes | self.requirements.attributes()


class OfferCreate(ListingCreate):
    service_area: list[RegionCode] = Field(
        default_factory=list, description="regions it serves; defaults to its own region"
    )
    qualities: Qualities | None = Field(default=None, description=QUALITIES_DESCRIPTION)

    _typed_attributes = field_validator("attributes")(_quality_keys)

    _once = field_validator("qualities")(_qualities_once)

    def listing_attributes(self) -> dict[str, Any]:
        if self.qualities is None:
            return self.attributes
        return self.attributes | self.qualities.attributes()


class ListingUpdate(Window):
    """A partial change: only the fields given are changed."""

    category: CategoryCode | None = None
    title: Title | None = None
    description: Description | None = None
    quantity: Quantity | None = None
    unit: Unit | None = None
    region: RegionCode | None = None
    attributes: Attributes | None = None

    def attributes_after(self, current: dict[str, Any]) -> dict[str, Any] | None:
        """The listing's attributes after this change, or None when it leaves them alone."""
        return self.attributes if "attributes" in self.model_fields_set else None


class NeedUpdate(ListingUpdate):
    requirements: Requirements | None = Field(
        default=None,
        description=REQUIREMENTS_DESCRIPTION + "; replaces the need's requirements ({} clears them)",
    )

    _typed_attributes = field_validator("attributes")(_requirement_keys)

    _once = field_validator("requirements")(_requirements_once)

    def attributes_after(self, current: dict[str, Any]) -> dict[str, Any] | None:
        if self.requirements is None:
            return super().attributes_after(current)
        if self.attributes is not None:
            return self.attributes | self.requirements.attributes()
        rest = without_keys(Requirements, current, *OLDER_REQUIREMENT_KEYS)
        return rest | self.requirements.attributes()


class OfferUpdate(ListingUpdate):
    service_area: list[RegionCode] | None = None
    qualities: Qualities | None = Field(
        default=None, description=QUALITIES_DESCRIPTION + "; replaces the offer's qualities ({} clears them)"
    )

    _typed_attributes = field_validator("attributes")(_quality_keys)

    _once = field_validator("qualities")(_qualities_once)

    def attributes_after(self, current: dict[str, Any]) -> dict[str, Any] | None:
        if self.qualities is None:
            return super().attributes_after(current)
        if self.attributes is not None:
            return self.attributes | self.qualities.attributes()
        return without_keys(Qualities, current) | self.qualities.attributes()


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
