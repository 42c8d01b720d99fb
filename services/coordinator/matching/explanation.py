"""Why a proposal: the filters it passed, each score term, and what limited its quantity.

Pure. The explanation is data — codes and parameters, no sentences — so it is stored and
published once and rendered in the reader's language by
:func:`shared.reasons.render_explanation`. Explanations stored before codes existed carry
their sentences (``summary_en``/``summary_zh``); the renderer shows those.
"""

from typing import Any

from services.coordinator.matching.allocation import Allocation
from services.coordinator.matching.filters import WEIGHTS

__all__ = ["LIMITS", "explain"]

LIMITS = ("need", "offer", "fair_share", "fairness_cap", "programme_max", "shared")


def _amount(base: float, unit: str, factor: float) -> str:
    value = base / factor
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return f"{text} {unit}"


def explain(
    allocation: Allocation,
    *,
    quantity: str,
    unit: str,
    need_title: str,
    offer_title: str,
    unit_factor: float = 1.0,
) -> dict[str, Any]:
    """The explanation stored with a proposal of ``quantity`` ``unit`` (in the need's unit);
    ``unit_factor`` is the base units in one ``unit`` (for the fair-share figures)."""
    c = allocation.candidate
    terms = [
        {
            "name": name,
            "value": round(value, 4),
            "weight": WEIGHTS[name],
            "contribution": round(WEIGHTS[name] * value, 4),
        }
        for name, value in c.terms.items()
    ]
    strongest = max(c.terms, key=lambda name: WEIGHTS[name] * c.terms[name])
    limit_params: dict[str, Any] = {}
    if allocation.fair is not None:
        fair = allocation.fair
        limit_params = {
            "rule": fair.rule,
            "organisations": fair.organisations,
            "capacity": _amount(fair.capacity, unit, unit_factor),
            "share": _amount(fair.limit, unit, unit_factor),
            "demand": _amount(fair.demand, unit, unit_factor),
        }
    return {
        "filters": [check.as_dict() for check in c.checks],
        "terms": terms,
        "score": round(c.score, 4),
        "strongest": strongest,
        "limited_by": allocation.limited_by,
        "limit_params": limit_params,
        "quantity": quantity,
        "unit": unit,
        "need_title": need_title,
        "offer_title": offer_title,
    }
