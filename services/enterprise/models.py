"""The enterprise service's own table: procurement requests."""

from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.stakeholder.models import STAKEHOLDER_TABLES, Need, OwnedEntity

__all__ = ["TABLES", "ProcurementRequest"]


class ProcurementRequest(OwnedEntity):
    """An enterprise's request to buy produce; its quantity and window live on its need."""

    __tablename__ = "procurement_requests"

    need_id: Mapped[str] = mapped_column(ForeignKey("needs.id"), unique=True)
    grade: Mapped[str] = mapped_column(String(40))
    max_price_per_unit: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))

    need: Mapped[Need] = relationship(lazy="joined")


TABLES = (*STAKEHOLDER_TABLES, ProcurementRequest.__table__)
