"""The ngo service's own table: training courses."""

from datetime import date

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.stakeholder.models import STAKEHOLDER_TABLES, Offer, OwnedEntity

__all__ = ["TABLES", "TrainingCourse"]


class TrainingCourse(OwnedEntity):
    """A training course; its seats (quantity) and dates (window) live on its offer."""

    __tablename__ = "training_courses"

    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id"), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(20))
    venue: Mapped[str] = mapped_column(String(200))
    start_date: Mapped[date]
    end_date: Mapped[date]

    offer: Mapped[Offer] = relationship(lazy="joined")


TABLES = (*STAKEHOLDER_TABLES, TrainingCourse.__table__)
