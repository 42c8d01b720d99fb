"""The open-data shape of one market cell (JSON rows and CSV columns alike)."""

from pydantic import BaseModel, Field

from services.coordinator.market.models import MarketCell
from services.coordinator.market.rules import CellFigures
from shared.reasons import Language, render_reason

__all__ = ["MarketCellRead"]


class MarketCellRead(BaseModel):
    """One county's category family in one month, in one dimension."""

    county: str = Field(description="county code (GB/T 2260, six digits)")
    family: str = Field(description="category family: the first two levels of the taxonomy")
    dimension: str = Field(description="what the quantities measure: [mass], [person], [currency] …")
    month: str = Field(description="YYYY-MM, China Standard Time, of the listings' first publication")
    base_unit: str = Field(description="the unit demand, supply and prices are in")
    needs: int = Field(description="needs first published that month, not withdrawn")
    offers: int = Field(description="offers first published that month, not withdrawn")
    demand: float = Field(description="the needs' quantity, in the base unit")
    supply: float = Field(description="the offers' quantity, in the base unit")
    matched: float = Field(description="what confirmed or fulfilled matches cover of the demand")
    matched_share: float | None = Field(description="matched ÷ demand (null without demand)")
    median_days_to_match: float | None = Field(
        description="median days from a need to its first confirmed match"
    )
    median_offer_price: float | None = Field(description="median price offered, yuan per base unit")
    median_price_ceiling: float | None = Field(description="median ceiling asked, yuan per base unit")
    balance: float | None = Field(description="(demand − supply) ÷ (demand + supply), from −1 to +1")
    baseline: float = Field(description="the mean balance of up to 6 earlier months here (0 if none)")
    state: str = Field(description="shortage, glut or balanced")
    reason_code: str = Field(description="why, as a code (rendered in reason)")
    reason: str = Field(description="why, in the language asked for")

    @classmethod
    def of(cls, cell: MarketCell, details: CellFigures, lang: Language) -> "MarketCellRead":
        """The row of ``cell``, with what :func:`service.cell_details` read from the book."""
        return cls(
            county=cell.county,
            family=cell.family,
            dimension=cell.dimension,
            month=cell.month,
            base_unit=cell.base_unit,
            needs=cell.needs,
            offers=cell.offers,
            demand=cell.demand,
            supply=cell.supply,
            matched=round(details.matched, 4),
            matched_share=_rounded(details.matched_share),
            median_days_to_match=_rounded(details.median_days_to_match),
            median_offer_price=_rounded(details.median_offer_price),
            median_price_ceiling=_rounded(details.median_price_ceiling),
            balance=cell.balance,
            baseline=cell.baseline,
            state=cell.state,
            reason_code=str(cell.reason.get("code", "")),
            reason=render_reason(cell.reason, lang),
        )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
