"""Schemas of the community service's own routes."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.events.data import CategoryCode, PlainDecimal, RegionCode
from shared.requirements import Code, Price
from shared.stakeholder.schemas import Description, OfferRead, Quantity, Unit, Window
from shared.taxonomy import is_within

__all__ = ["DisputeCreate", "LotCreate", "LotRead"]


def _produce(code: str) -> str:
    if not is_within(code, "produce"):
        raise ValueError("a produce lot's category lies under 'produce'")
    return code


class LotCreate(Window):
    """A lot of produce; ``window_start``/``window_end`` are its harvest window."""

    product_category: Annotated[CategoryCode, AfterValidator(_produce)]
    variety: Annotated[str, Field(min_length=1, max_length=100)]
    grade: Annotated[str, Field(max_length=40)] = ""
    quantity: Quantity
    unit: Unit
    certifications: list[Code] = Field(
        default_factory=list,
        max_length=10,
        description="e.g. green-food, organic, geographical-indication (shared/requirements.py)",
    )
    standards: list[Code] = Field(
        default_factory=list, max_length=10, description="standards it meets, e.g. GB/T 40743"
    )
    packaging: Code | None = None
    price_per_unit: Price | None = Field(default=None, description="yuan per unit of the lot")
    region: RegionCode | None = Field(default=None, description="the village; default the org's")
    service_area: list[RegionCode] = Field(default_factory=list)
    description: Description = ""


class LotRead(BaseModel):
    id: str
    organisation_id: str
    variety: str
    grade: str
    certifications: list[str]
    standards: list[str]
    packaging: str | None
    price_per_unit: PlainDecimal | None
    created_at: datetime
    offer: OfferRead


class DisputeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=5000)] = ""
    other_parties: list[str] = Field(
        default_factory=list, max_length=10, description="organisations involved"
    )
