"""The registry: the organisations the coordinator knows, from their services' registrations."""

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Base

__all__ = ["RegisteredOrganisation"]


class RegisteredOrganisation(Base):
    __tablename__ = "registry_organisations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    region: Mapped[str] = mapped_column(String(12), index=True)
    contact: Mapped[dict[str, Any]]
    registered_at: Mapped[datetime]
