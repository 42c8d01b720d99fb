"""The diagnosis of a need or offer: why it is (not) matched — the contract between the
coordinator, which computes it (``GET /{needs|offers}/{id}/diagnosis``), and each party's
own service, which passes it on to the organisation. Fields added later pass through."""

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = ["Diagnosis", "DiagnosisCandidate", "DiagnosisMessage"]


def _as_text(value: Any) -> Any:
    """Quantities arrive as JSON strings; take a plain number too."""
    return str(value) if isinstance(value, int | float | Decimal) and not isinstance(value, bool) else value


Amount = Annotated[str, BeforeValidator(_as_text)]


class _Contract(BaseModel):
    # Fields the coordinator adds later pass through unchanged.
    model_config = ConfigDict(extra="allow")


class DiagnosisMessage(_Contract):
    """One statement of the diagnosis: a code, its parameters, and its text in the language asked."""

    code: str
    params: dict[str, Any] = Field(default_factory=dict)
    text: str


class DiagnosisCandidate(_Contract):
    """A listing of the other side, with the filters it passed and the first one it failed."""

    listing_id: str
    organisation_id: str
    organisation_name: str | None
    title: str
    category: str
    region: str
    passed: list[str] = Field(description="codes of the filters it passed")
    failed: DiagnosisMessage | None = Field(description="the filter it failed, or null if none")
    proposed_quantity: Amount | None = Field(description="what is proposed to it, if anything")


class Diagnosis(_Contract):
    """Why a need or offer is or is not matched, as the coordinator sees it."""

    listing_id: str
    side: Literal["need", "offer"]
    status: str
    lang: str
    unit: str
    quantity: Amount | None = None
    remaining: Amount | None
    proposed: Amount | None
    summary: DiagnosisMessage
    candidates: list[DiagnosisCandidate]
