"""Schemas of the government service's own routes."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from shared.events.data import CategoryCode, EligibilityRules, RegionCode
from shared.stakeholder.schemas import Description, OfferRead, Quantity, Unit, Window
from shared.taxonomy import is_within

__all__ = ["ProgrammeCreate", "ProgrammeRead"]

ProgrammeKind = Literal["subsidy", "fund", "training"]
_BRANCH: dict[str, str] = {"subsidy": "funding", "fund": "funding", "training": "training"}
_DEFAULT_CATEGORY: dict[str, str] = {
    "subsidy": "funding.subsidy",
    "fund": "funding.fund",
    "training": "training.ecommerce",
}


class ProgrammeCreate(Window):
    """A programme; ``budget`` is in yuan for funding and in seats for training."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    programme_kind: ProgrammeKind
    category: CategoryCode | None = Field(
        default=None, description="defaults to funding.subsidy, funding.fund or training.ecommerce"
    )
    budget: Quantity
    unit: Unit | None = Field(default=None, description="default: yuan, or seat for training")
    eligibility: EligibilityRules = EligibilityRules()
    region: RegionCode | None = None
    service_area: list[RegionCode] = Field(default_factory=list)
    description: Description = ""

    @model_validator(mode="after")
    def _category_fits_kind(self) -> "ProgrammeCreate":
        if self.category and not is_within(self.category, _BRANCH[self.programme_kind]):
            raise ValueError(
                f"a {self.programme_kind} programme's category lies under {_BRANCH[self.programme_kind]!r}"
            )
        return self

    @property
    def effective_category(self) -> str:
        return self.category or _DEFAULT_CATEGORY[self.programme_kind]

    @property
    def effective_unit(self) -> str:
        return self.unit or ("seat" if self.programme_kind == "training" else "yuan")


class ProgrammeRead(BaseModel):
    id: str
    organisation_id: str
    name: str
    programme_kind: ProgrammeKind
    eligibility: EligibilityRules
    created_at: datetime
    offer: OfferRead
