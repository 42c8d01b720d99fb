"""Schemas of the enterprise service's own routes."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, ValidationInfo, field_validator

from shared.events.data import CategoryCode, PlainDecimal, RegionCode
from shared.requirements import Requirements, requirement_conflicts
from shared.stakeholder.schemas import Description, NeedRead, Quantity, Unit, Window
from shared.taxonomy import is_within

__all__ = ["ProcurementCreate", "ProcurementRead"]

# A requirement and the older field of a procurement that states the same thing.
_OLDER_FIELD = {"preferred_grade": "grade", "price_max": "max_price_per_unit"}


def _produce(code: str) -> str:
    if not is_within(code, "produce"):
        raise ValueError("procurement buys produce: the category lies under 'produce'")
    return code


class ProcurementCreate(Window):
    """A request to buy produce; ``window_start``/``window_end`` are the delivery window.

    ``region`` is where the produce comes from (its origin): a lot matches when it lies in
    that region, e.g. ``610124`` takes produce from anywhere in 周至县.
    """

    title: Annotated[str, Field(min_length=1, max_length=200)]
    product_category: Annotated[CategoryCode, AfterValidator(_produce)]
    grade: Annotated[str, Field(max_length=40)] = Field(
        default="", description="older form of requirements.preferred_grade"
    )
    quantity: Quantity
    unit: Unit
    max_price_per_unit: Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=4)] | None = Field(
        default=None, description="older form of requirements.price_max (yuan per unit)"
    )
    region: RegionCode | None = Field(
        default=None,
        description="origin region: where the produce should come from; default the org's region",
    )
    description: Description = ""
    requirements: Requirements = Field(
        default_factory=Requirements,
        validate_default=True,  # the older fields are read into it even when it is not sent
        description="required_* are hard filters (a lot that fails one is never proposed), "
        "preferred_* score terms; prices in yuan per unit of this procurement",
    )

    @field_validator("requirements")
    @classmethod
    def _with_older_fields(cls, requirements: Requirements, info: ValidationInfo) -> Requirements:
        """Read ``grade`` and ``max_price_per_unit`` into the requirements; stated both ways,
        they must agree."""
        older: dict[str, Any] = {key: info.data.get(key) for key in ("grade", "max_price_per_unit")}
        conflicts = requirement_conflicts(older, requirements)
        if conflicts:
            named = ", ".join(f"{_OLDER_FIELD[c]} and requirements.{c}" for c in conflicts)
            raise ValueError(f"{named} differ: state each once (the requirements are the newer form)")
        merged = requirements.model_dump(exclude_defaults=True)
        if older["grade"] and requirements.preferred_grade is None:
            merged["preferred_grade"] = older["grade"]
        if older["max_price_per_unit"] is not None and requirements.price_max is None:
            merged["price_max"] = older["max_price_per_unit"]
        return Requirements.model_validate(merged)


class ProcurementRead(BaseModel):
    id: str
    organisation_id: str
    grade: str = Field(description="older form of requirements.preferred_grade")
    max_price_per_unit: PlainDecimal | None = Field(description="older form of requirements.price_max")
    requirements: Requirements
    created_at: datetime
    need: NeedRead = Field(description="the need in the shared book; its region is the origin region")
