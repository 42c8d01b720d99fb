"""The explanation stored with a proposal (matching/explanation.py) is data — codes and
parameters — and shared/reasons.py renders it in Chinese and English."""

import re
from datetime import date

import pytest

from services.coordinator.matching import Candidate, NeedItem, OfferItem, Party
from services.coordinator.matching.allocation import Allocation, GroupLimit
from services.coordinator.matching.explanation import LIMITS, explain
from services.coordinator.matching.filters import WEIGHTS, first_failure, passed_filters
from shared.reasons import TERMS, TEXTS, render, render_explanation

# proximity 0.30 × 0.5 = 0.15; urgency 0.20 × 0.9 = 0.18 (the strongest); quantity_fit
# 0.20 × 0.5 = 0.10; quality 0.20 × 0.25 = 0.05; record 0.10 × 1.0 = 0.10. Score 0.58.
TERM_VALUES = {"proximity": 0.5, "urgency": 0.9, "quantity_fit": 0.5, "quality": 0.25, "record": 1.0}
ASCII_LETTER = re.compile(r"[A-Za-z]")
TODAY = date(2026, 11, 23)
PARTY = Party("org-need", "community", "610124104201")
NEED = NeedItem(
    "n1",
    PARTY,
    "training.livestream",
    30.0,
    "人",
    "610124104201",
    attributes={"required_certifications": ["green-food"], "price_max": 300},
)
OFFER = OfferItem(
    "o1",
    "org-offer",
    "training",
    30.0,
    "人",
    "610124101",
    ("610124",),
    attributes={"certifications": ["green-food"], "price_per_unit": 200},
)


def _allocation(
    terms: dict[str, float] = TERM_VALUES, limited_by: str = "offer", fair: GroupLimit | None = None
) -> Allocation:
    return Allocation(Candidate.of(NEED, OFFER, terms), 25.0, limited_by, fair)


def _explain(allocation: Allocation, unit: str = "人") -> dict[str, object]:
    return explain(allocation, quantity="25", unit=unit, need_title="直播培训", offer_title="电商学院")


def test_the_stored_explanation_is_codes_and_parameters_without_sentences() -> None:
    found = _explain(_allocation())
    assert [f["code"] for f in found["filters"]] == [  # type: ignore[attr-defined]
        "different_organisations",
        "category",
        "region_service_area",
        "window_open_ended",
        "units",
        "required_certifications",
        "price_in_range",
    ]
    assert found["terms"] == [
        {"name": n, "value": v, "weight": WEIGHTS[n], "contribution": round(WEIGHTS[n] * v, 4)}
        for n, v in TERM_VALUES.items()
    ]
    assert found["score"] == 0.58
    assert found["strongest"] == "urgency"
    assert found["limited_by"] == "offer"
    assert not any(key.startswith("summary") for key in found)


def test_both_renderings_name_quantity_titles_strongest_term_and_limit() -> None:
    explanation = _explain(_allocation())
    en = render_explanation(explanation, "en")
    zh = render_explanation(explanation, "zh")
    # the unit in the reader's language: "人" on an English page reads "people"
    assert en["summary"].startswith(
        "Proposes 25 people of “电商学院” for “直播培训”. It passed all 7 filters"
    )
    assert "score 0.58 of 1, mostly from urgency" in en["summary"]
    assert en["summary"].endswith("because the offer has nothing more to give.")
    assert zh["summary"].startswith("建议由“电商学院”向“直播培训”提供 25 人。通过全部 7 项筛选")
    assert zh["summary"].endswith("原因：供给已全部分配。")
    assert "holds the required certifications: green food" in en["filters"]
    assert "具备要求的认证：绿色食品" in zh["filters"]


def test_categories_and_units_in_a_filters_words_are_named_in_the_readers_language() -> None:
    from shared.reasons import render

    params = {"offer_category": "training.livestream", "need_category": "training"}
    assert render("category", params, "zh") == "类别 直播带货培训 可满足 培训"
    assert render("category", params, "en") == "Live-stream selling training serves Training"
    units = {"offer_unit": "seat", "need_unit": "人"}
    assert render("units", units, "zh") == "个座位 与 人 计量同一类量"
    assert render("units", units, "en") == "seats and people measure the same thing"


@pytest.mark.parametrize("strongest", sorted(WEIGHTS))
def test_the_strongest_term_is_the_largest_weighted_contribution(strongest: str) -> None:
    terms = dict.fromkeys(WEIGHTS, 0.1)
    terms[strongest] = 0.9
    explanation = _explain(_allocation(terms))
    assert explanation["strongest"] == strongest
    assert f"主要来自{TERMS[strongest][0]}。" in render_explanation(explanation, "zh")["summary"]


def test_the_weights_not_the_raw_values_decide_the_strongest_term() -> None:
    terms = {"proximity": 0.6, "urgency": 0.1, "quantity_fit": 0.1, "quality": 0.1, "record": 1.0}
    assert _explain(_allocation(terms))["strongest"] == "proximity"


def test_a_fair_share_names_the_rule_the_competitors_and_the_share() -> None:
    fair = GroupLimit(10.0, "fair_share", "max_min", 30.0, 3, 15.0)
    explanation = _explain(_allocation(limited_by="fair_share", fair=fair))
    assert explanation["limit_params"] == {
        "rule": "max_min",
        "organisations": 3,
        "capacity": "30 人",
        "share": "10 人",
        "demand": "15 人",
    }
    assert render_explanation(explanation, "en")["limit"] == (
        "fair split (max-min fair share): 3 organisations compete for 30 人; this one's share is 10 人"
    )
    assert render_explanation(explanation, "zh")["limit"] == (
        "公平分配（最大最小公平）：3 个组织争用 30 人，该组织的份额为 10 人"
    )


@pytest.mark.parametrize("limited_by", LIMITS)
@pytest.mark.parametrize("strongest", sorted(WEIGHTS))
def test_the_chinese_rendering_has_no_ascii_letter(limited_by: str, strongest: str) -> None:
    terms = dict.fromkeys(WEIGHTS, 0.1)
    terms[strongest] = 0.9
    fair = (
        GroupLimit(10.0, "fair_share", "proportional", 30.0, 3, 15.0) if limited_by == "fair_share" else None
    )
    zh = render_explanation(_explain(_allocation(terms, limited_by, fair)), "zh")
    for text in (zh["summary"], zh["limit"]):
        assert not ASCII_LETTER.search(text), text
    # filters name category codes, which are identifiers, not English prose
    assert not ASCII_LETTER.search(zh["filters"][0])


def test_every_code_has_both_languages_and_the_chinese_templates_no_ascii_words() -> None:
    for code, (zh, en) in TEXTS.items():
        assert zh and en, code
        words = ASCII_LETTER.findall(re.sub(r"\{[a-z_]+\}", "", zh))
        assert not words, (code, zh)


def test_every_failure_and_pass_a_filter_reports_has_a_text() -> None:
    for reason in passed_filters(NEED, OFFER):
        assert reason.code in TEXTS
    failing = OfferItem("o2", "org-offer", "training", 30.0, "kg", "610125101", ("610125",))
    found = first_failure(NEED, failing, TODAY)
    assert found is not None and found.code in TEXTS


def test_explanations_stored_before_codes_are_shown_as_they_were() -> None:
    old = {
        "filters": [{"name": "category", "detail": "produce serves produce"}],
        "limited_by": "offer",
        "limited_by_text": "the offer has nothing more to give",
        "summary_en": "Proposes 3 t.",
        "summary_zh": "建议提供 3 吨。",
    }
    assert render_explanation(old, "zh") == {
        "summary": "建议提供 3 吨。",
        "filters": ["produce serves produce"],
        "limit": "the offer has nothing more to give",
    }
    assert render_explanation(old, "en")["summary"] == "Proposes 3 t."


def test_hostile_parameters_are_text_not_templates() -> None:
    assert render("wrong_grade", {"offered": "{required}<script>", "required": "一级"}, "en") == (
        "grade is {required}<script>, 一级 is required"
    )
    assert render("no_such_code", {}, "zh") == "no_such_code"
