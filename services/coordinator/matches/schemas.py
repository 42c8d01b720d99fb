"""Response schemas of the matches."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.events.data import MatchData
from shared.reasons import Language

__all__ = ["Diagnosis", "DiagnosisCandidate", "ExplanationText", "MatchRead", "ReasonText"]


class ExplanationText(BaseModel):
    """A match's explanation rendered in one language from its codes."""

    summary: str
    filters: list[str]
    limit: str


class MatchRead(MatchData):
    """A match as the coordinator holds it. ``explanation`` is data (codes and parameters);
    ``explanation_text`` is the same rendered in Chinese (``zh``) and English (``en``)."""

    partition: str
    updated_at: datetime
    explanation_text: dict[str, ExplanationText]


class ReasonText(BaseModel):
    """A reason as data (``code``, ``params``) and rendered in the requested language."""

    code: str
    params: dict[str, Any]
    text: str


class DiagnosisCandidate(BaseModel):
    """A counterpart near to matching the diagnosed listing."""

    listing_id: str
    organisation_id: str
    organisation_name: str | None
    title: str
    category: str
    region: str
    passed: list[str]
    failed: ReasonText | None = Field(description="the first filter it fails; null: it passes them all")
    proposed_quantity: str | None = Field(
        description="quantity of an active match between the two, in the diagnosed listing's unit"
    )


class Diagnosis(BaseModel):
    """Why a need or an offer is not (fully) matched, in one language."""

    listing_id: str
    side: Literal["need", "offer"]
    status: str
    lang: Language
    unit: str
    quantity: str
    proposed: str
    remaining: str
    summary: ReasonText
    candidates: list[DiagnosisCandidate]
