"""Schemas of the government service's own routes."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from shared.events.data import (
    CategoryCode,
    EligibilityRules,
    Evidence,
    FundShares,
    Money,
    RegionCode,
    SharePurpose,
)
from shared.stakeholder.schemas import Description, OfferRead, Quantity, Schema, Unit, Window
from shared.taxonomy import is_within

__all__ = [
    "AllocationCreate",
    "AllocationRead",
    "DisbursementCreate",
    "FundCreate",
    "FundEntryRead",
    "FundRead",
    "ProgrammeCreate",
    "ProgrammeRead",
    "ReturnCreate",
    "ShareRead",
    "TrancheCreate",
]

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


class FundCreate(Schema):
    """A special fund and its earmarked shares; the money arrives later, in tranches."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    fiscal_year: int = Field(ge=2000, le=2100)
    region: RegionCode | None = Field(default=None, description="default: the organisation's county")
    description: Description = ""
    shares: FundShares


class TrancheCreate(Schema):
    received_on: date
    source: Annotated[str, Field(max_length=200)] = ""
    amounts: dict[str, Money] = Field(min_length=1, description="yuan per share key")


class AllocationCreate(Schema):
    """Commit part of a share: to a confirmed match of one of the organisation's funding
    programmes (``match_id``; its need's organisation is the recipient), or to a project."""

    share: str
    amount: Money
    allocated_on: date
    township: RegionCode = Field(description="where the money is spent, within the fund's region")
    purpose: Annotated[str, Field(min_length=1, max_length=500)]
    match_id: str | None = None
    project: Annotated[str, Field(max_length=200)] = ""
    project_id: str | None = Field(
        default=None, description="a cross-sector project whose budget line draws on this share"
    )
    budget_line: str | None = Field(default=None, description="the project's budget line; with project_id")
    recipient_organisation_id: str | None = None
    recipient_name: Annotated[str, Field(max_length=200)] = ""

    @field_validator("match_id", "project_id", "budget_line", "recipient_organisation_id", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _one_target(self) -> "AllocationCreate":
        if bool(self.match_id) == bool(self.project or self.project_id):
            raise ValueError(
                "name either match_id (a confirmed match) or a project (project, or project_id with "
                "budget_line), not both or neither"
            )
        if bool(self.project_id) != bool(self.budget_line):
            raise ValueError("project_id and budget_line go together")
        if self.match_id and self.recipient_organisation_id:
            raise ValueError(
                "a match's recipient is its need's organisation: leave recipient_organisation_id out"
            )
        return self


class DisbursementCreate(Schema):
    amount: Money
    paid_on: date
    evidence: list[Evidence] = Field(min_length=1, max_length=20, description="what the payment rests on")


class ReturnCreate(Schema):
    return_kind: Literal["repaid", "released"] = Field(
        description="repaid: money paid out comes back; released: an undisbursed commitment is given up"
    )
    amount: Money
    returned_on: date
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


class ShareRead(BaseModel):
    share: str
    name: str
    purpose: SharePurpose
    planned: Decimal
    received: Decimal
    committed: Decimal = Field(description="allocated − released − repaid")
    paid: Decimal = Field(description="disbursed − repaid")
    uncommitted: Decimal
    cash: Decimal = Field(description="received − paid")


class AllocationRead(BaseModel):
    id: str
    share: str
    amount: Decimal
    released: Decimal
    disbursed: Decimal
    repaid: Decimal
    undisbursed: Decimal
    allocated_on: date
    township: str
    purpose: str
    recipient_organisation_id: str | None
    recipient_name: str
    match_id: str | None
    project: str
    project_id: str | None
    budget_line: str | None


class FundRead(BaseModel):
    id: str
    organisation_id: str
    name: str
    fiscal_year: int
    region: str
    description: str
    version: int = Field(description="the number of the ledger's last entry")
    created_at: datetime
    shares: list[ShareRead]
    allocations: list[AllocationRead]


class FundEntryRead(BaseModel):
    version: int
    entry_kind: str
    data: dict[str, Any]
    recorded_at: datetime
