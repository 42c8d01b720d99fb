"""Response schemas of the matches."""

from datetime import datetime

from pydantic import BaseModel

from shared.diagnosis import Diagnosis, DiagnosisCandidate, DiagnosisMessage
from shared.events.data import MatchData

__all__ = ["Diagnosis", "DiagnosisCandidate", "DiagnosisMessage", "ExplanationText", "MatchRead"]


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
