"""Why a proposal: the filters it passed, each score term, and what limited its quantity.
Pure; the texts are rendered from the allocation in both languages."""

from typing import Any

from services.coordinator.matching.allocation import Allocation
from services.coordinator.matching.filters import WEIGHTS

__all__ = ["LIMITS", "explain"]

LIMITS: dict[str, tuple[str, str]] = {
    "need": ("the need is fully covered", "需求已全部满足"),
    "offer": ("the offer has nothing more to give", "供给已全部分配"),
    "fairness_cap": (
        "the fairness cap leaves the rest to other organisations",
        "公平上限：其余份额留给其他组织",
    ),
    "programme_max": ("the programme's maximum per organisation", "项目对每个组织的上限"),
    "shared": ("the rest serves other needs better", "其余部分更适合其他需求"),
}
_TERMS_ZH = {
    "proximity": "距离",
    "urgency": "紧迫度",
    "quantity_fit": "数量匹配",
    "quality": "品质/认证",
    "record": "履约记录",
}


def explain(
    allocation: Allocation, *, quantity: str, unit: str, need_title: str, offer_title: str
) -> dict[str, Any]:
    """The explanation stored with a proposal of ``quantity`` ``unit`` (in the need's unit)."""
    c = allocation.candidate
    limit_en, limit_zh = LIMITS[allocation.limited_by]
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
    return {
        "filters": [{"name": check.name, "detail": check.detail} for check in c.checks],
        "terms": terms,
        "score": round(c.score, 4),
        "limited_by": allocation.limited_by,
        "limited_by_text": limit_en,
        "summary_en": (
            f"Proposes {quantity} {unit} of “{offer_title}” for “{need_title}”. It passed all "
            f"{len(c.checks)} filters; score {c.score:.2f} of 1, mostly from {strongest}. "
            f"The quantity stops there because {limit_en}."
        ),
        "summary_zh": (
            f"建议由“{offer_title}”向“{need_title}”提供 {quantity} {unit}。"
            f"通过全部 {len(c.checks)} 项筛选；综合得分 {c.score:.2f}（满分 1），主要来自"
            f"{_TERMS_ZH[strongest]}。数量止于此，原因：{limit_zh}。"
        ),
    }
