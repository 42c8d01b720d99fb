"""The government service's own table: programmes with eligibility rules."""

from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.stakeholder.models import STAKEHOLDER_TABLES, Offer, OwnedEntity

__all__ = ["TABLES", "Programme"]


class Programme(OwnedEntity):
    """A subsidy, fund or training programme; its budget and window live on its offer."""

    __tablename__ = "programmes"

    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    programme_kind: Mapped[str] = mapped_column(String(20))
    eligibility: Mapped[dict[str, Any]]

    offer: Mapped[Offer] = relationship(lazy="joined")


TABLES = (*STAKEHOLDER_TABLES, Programme.__table__)
