"""Schemas of the enterprise service's own routes."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from shared.events.data import CategoryCode, PlainDecimal, RegionCode
from shared.stakeholder.schemas import Description, NeedRead, Quantity, Unit, Window
from shared.taxonomy import is_within

__all__ = ["ProcurementCreate", "ProcurementRead"]


def _produce(code: str) -> str:
    if not is_within(code, "produce"):
        raise ValueError("procurement buys produce: the category lies under 'produce'")
    return code


class ProcurementCreate(Window):
    """A request to buy produce; ``window_start``/``window_end`` are the delivery window."""

    title: Annotated[str, Field(min_length=1, max_length=200)]
    product_category: Annotated[CategoryCode, AfterValidator(_produce)]
    grade: Annotated[str, Field(max_length=40)] = ""
    quantity: Quantity
    unit: Unit
    max_price_per_unit: Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=4)] | None = None
    region: RegionCode | None = Field(
        default=None, description="where the produce should come from; default the org's region"
    )
    description: Description = ""


class ProcurementRead(BaseModel):
    id: str
    organisation_id: str
    grade: str
    max_price_per_unit: PlainDecimal | None
    created_at: datetime
    need: NeedRead
