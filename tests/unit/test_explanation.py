"""The explanation stored with a proposal (matching/explanation.py), in English and Chinese,
rendered from the allocation alone."""

import re

import pytest

from services.coordinator.matching import Candidate, NeedItem, OfferItem, Party
from services.coordinator.matching.allocation import Allocation
from services.coordinator.matching.explanation import LIMITS, explain
from services.coordinator.matching.filters import WEIGHTS, Check

CHECKS = (
    Check("different_organisations", "the two sides are different organisations"),
    Check("category", "produce.fruit.kiwifruit serves produce.fruit"),
    Check("region", "the offer's service area 610124 covers 610124104201"),
)
# proximity 0.30 × 0.5 = 0.15; urgency 0.20 × 0.9 = 0.18 (the strongest); quantity_fit
# 0.20 × 0.5 = 0.10; quality 0.20 × 0.25 = 0.05; record 0.10 × 1.0 = 0.10. Score 0.58.
TERMS = {"proximity": 0.5, "urgency": 0.9, "quantity_fit": 0.5, "quality": 0.25, "record": 1.0}
TERMS_ZH = {
    "proximity": "距离",
    "urgency": "紧迫度",
    "quantity_fit": "数量匹配",
    "quality": "品质/认证",
    "record": "履约记录",
}
ASCII_LETTER = re.compile(r"[A-Za-z]")


def _allocation(terms: dict[str, float] = TERMS, limited_by: str = "offer") -> Allocation:
    party = Party("org-need", "community", "610124104201")
    need = NeedItem("n1", party, "produce.fruit", 500.0, "kg", "610124104201")
    offer = OfferItem("o1", "org-offer", "produce.fruit.kiwifruit", 250.0, "kg", "610124101", ("610124",))
    return Allocation(Candidate(need, offer, CHECKS, terms), 250.0, limited_by)


def _explain(allocation: Allocation, unit: str = "kg") -> dict[str, object]:
    return explain(
        allocation, quantity="250", unit=unit, need_title="Kiwi for the school", offer_title="Hayward kiwi"
    )


def test_the_structured_parts_come_from_the_allocation() -> None:
    found = _explain(_allocation())
    assert found["filters"] == [{"name": c.name, "detail": c.detail} for c in CHECKS]
    assert found["terms"] == [
        {
            "name": name,
            "value": value,
            "weight": WEIGHTS[name],
            "contribution": round(WEIGHTS[name] * value, 4),
        }
        for name, value in TERMS.items()
    ]
    assert found["score"] == 0.58
    assert found["limited_by"] == "offer"
    assert found["limited_by_text"] == "the offer has nothing more to give"


def test_the_english_summary_names_quantity_unit_titles_strongest_term_and_limit() -> None:
    summary = _explain(_allocation())["summary_en"]
    assert isinstance(summary, str)
    assert "Proposes 250 kg of “Hayward kiwi” for “Kiwi for the school”." in summary
    assert "passed all 3 filters" in summary
    assert "score 0.58 of 1" in summary
    assert "mostly from urgency" in summary
    assert summary.endswith("because the offer has nothing more to give.")


def test_the_chinese_summary_names_quantity_unit_titles_strongest_term_and_limit() -> None:
    summary = _explain(_allocation())["summary_zh"]
    assert isinstance(summary, str)
    assert "建议由“Hayward kiwi”向“Kiwi for the school”提供 250 kg。" in summary
    assert "通过全部 3 项筛选" in summary
    assert "综合得分 0.58（满分 1）" in summary
    assert "主要来自紧迫度" in summary
    assert summary.endswith("原因：供给已全部分配。")


@pytest.mark.parametrize("strongest", sorted(WEIGHTS))
def test_the_strongest_term_is_the_largest_weighted_contribution(strongest: str) -> None:
    # every term at 0.1 (at most 0.03 weighted) but one at 0.9 (at least 0.09 weighted)
    terms = dict.fromkeys(WEIGHTS, 0.1)
    terms[strongest] = 0.9
    found = _explain(_allocation(terms))
    assert f"mostly from {strongest}." in str(found["summary_en"])
    assert f"主要来自{TERMS_ZH[strongest]}。" in str(found["summary_zh"])


def test_the_weights_not_the_raw_values_decide_the_strongest_term() -> None:
    # record has the largest raw value (1.0 × 0.10 = 0.10) but proximity contributes more
    # (0.6 × 0.30 = 0.18)
    terms = {"proximity": 0.6, "urgency": 0.1, "quantity_fit": 0.1, "quality": 0.1, "record": 1.0}
    found = _explain(_allocation(terms))
    assert "mostly from proximity." in str(found["summary_en"])
    assert "主要来自距离。" in str(found["summary_zh"])


@pytest.mark.parametrize("limited_by", sorted(LIMITS))
def test_each_limit_is_given_in_both_languages(limited_by: str) -> None:
    found = _explain(_allocation(limited_by=limited_by))
    limit_en, limit_zh = LIMITS[limited_by]
    assert found["limited_by"] == limited_by
    assert found["limited_by_text"] == limit_en
    assert str(found["summary_en"]).endswith(f"because {limit_en}.")
    assert str(found["summary_zh"]).endswith(f"原因：{limit_zh}。")
    assert not ASCII_LETTER.search(limit_zh)


def test_every_limit_the_allocation_reports_has_a_text() -> None:
    # the limits _with_limits in allocation.py assigns
    assert {"need", "offer", "fairness_cap", "programme_max", "shared"} <= set(LIMITS)
    assert len({en for en, _ in LIMITS.values()}) == len(LIMITS)
    assert len({zh for _, zh in LIMITS.values()}) == len(LIMITS)


@pytest.mark.parametrize("limited_by", sorted(LIMITS))
@pytest.mark.parametrize("strongest", sorted(WEIGHTS))
def test_the_chinese_summary_has_no_ascii_letters_of_its_own(limited_by: str, strongest: str) -> None:
    terms = dict.fromkeys(WEIGHTS, 0.1)
    terms[strongest] = 0.9
    summary = str(_explain(_allocation(terms, limited_by), unit="kg")["summary_zh"])
    for passed_in in ("Hayward kiwi", "Kiwi for the school", "kg"):
        assert passed_in in summary
        summary = summary.replace(passed_in, "")
    assert not ASCII_LETTER.search(summary), summary


def test_a_chinese_unit_leaves_no_ascii_letter_at_all() -> None:
    found = explain(_allocation(), quantity="3", unit="吨", need_title="猕猴桃", offer_title="徐香")
    assert not ASCII_LETTER.search(str(found["summary_zh"]))
    assert "提供 3 吨" in str(found["summary_zh"])
