"""The community service's own table: produce lots."""

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.stakeholder.models import STAKEHOLDER_TABLES, Offer, OwnedEntity

__all__ = ["TABLES", "ProduceLot"]


class ProduceLot(OwnedEntity):
    """A lot of produce a village or cooperative offers; its quantity and window live on its offer."""

    __tablename__ = "produce_lots"

    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id"), unique=True)
    variety: Mapped[str] = mapped_column(String(100))
    grade: Mapped[str] = mapped_column(String(40))
    certifications: Mapped[list[str]]

    offer: Mapped[Offer] = relationship(lazy="joined")


TABLES = (*STAKEHOLDER_TABLES, ProduceLot.__table__)
