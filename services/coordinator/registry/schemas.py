"""Response schemas of the registry of organisations."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["OrganisationEntry"]


class OrganisationEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    kind: str
    region: str
    contact: dict[str, Any]
    registered_at: datetime
