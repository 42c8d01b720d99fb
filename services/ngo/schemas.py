"""Schemas of the ngo service's own routes."""

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shared.events.data import CategoryCode, RegionCode
from shared.stakeholder.schemas import Description, OfferRead
from shared.taxonomy import is_within

__all__ = ["CourseCreate", "CourseRead"]

Tier = Literal["basic", "advanced", "incubation"]


def _training(code: str) -> str:
    if not is_within(code, "training"):
        raise ValueError("a course's topic lies under 'training'")
    return code


class CourseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=200)]
    tier: Tier
    topic: Annotated[CategoryCode, AfterValidator(_training)] = Field(
        default="training.ecommerce", description="a category under 'training'"
    )
    seats: Annotated[int, Field(gt=0, le=100000)]
    start_date: date
    end_date: date
    venue: Annotated[str, Field(max_length=200)] = ""
    region: RegionCode | None = None
    service_area: list[RegionCode] = Field(
        default_factory=list, description="villages or townships whose people may take seats"
    )
    description: Description = ""

    @model_validator(mode="after")
    def _dates_in_order(self) -> "CourseCreate":
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class CourseRead(BaseModel):
    id: str
    organisation_id: str
    title: str
    tier: Tier
    venue: str
    start_date: date
    end_date: date
    created_at: datetime
    offer: OfferRead
