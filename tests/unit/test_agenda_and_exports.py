import re
from datetime import UTC, date, datetime, timedelta
from string import Formatter
from typing import Any

import pytest
from icalendar import Calendar

from services.coordinator.meetings.agenda import RULES, AgendaCandidate, AgendaReason, compile_agenda
from services.coordinator.meetings.exports import actions_csv, calendar, minutes_markdown
from services.coordinator.meetings.models import ActionItem, Meeting, MeetingSeries
from services.coordinator.meetings.schemas import AgendaItemRead
from shared.reasons import TEXTS, agenda_reason, agenda_rule, render

T = datetime(2026, 11, 1, tzinfo=UTC)


def _c(key: str, source: str, days: int = 0, weight: int = 0) -> AgendaCandidate:
    why = AgendaReason(f"agenda_{source}", {"days": 20} if source == "unmatched_need" else {})
    return AgendaCandidate(key, source, key, why, f"/{key}", T + timedelta(days=days), weight=weight)


def test_priority_follows_the_stated_rule_with_age_then_key_breaking_ties() -> None:
    items, overflow = compile_agenda(
        [
            _c("programme", "new_programme"),
            _c("need-late", "unmatched_need", days=2, weight=1),
            _c("need-early", "unmatched_need", days=1, weight=1),
            _c("overdue", "overdue_action", weight=30),
            _c("stalled", "stalled_match", weight=1),
            _c("dispute", "dispute"),
            _c("proposal", "proposal"),
        ],
        duration_minutes=120,
    )
    assert [(i["key"], i["priority"]) for i in items] == [
        ("dispute", 90),
        ("overdue", 90),
        ("proposal", 60),
        ("stalled", 55),
        ("need-early", 43),
        ("need-late", 43),
        ("programme", 30),
    ]
    overdue = items[1]
    assert overdue["priority_rule_code"] == "priority_overdue_action"
    assert overdue["priority_params"] == {"base": 80, "bonus": 10}  # capped
    assert overdue["reason_code"] == "agenda_overdue_action"
    assert items[4]["reason_code"] == "agenda_unmatched_need" and items[4]["reason_params"] == {"days": 20}
    assert all("reason" not in i and "priority_rule" not in i for i in items)  # no sentences stored
    assert overflow == []
    assert [i["start_minute"] for i in items] == [0, 20, 30, 45, 55, 60, 65]


def test_what_does_not_fit_rolls_over_and_smaller_items_still_fill_the_time() -> None:
    items, overflow = compile_agenda(
        [_c("d1", "dispute"), _c("d2", "dispute"), _c("n", "unmatched_need")], duration_minutes=30
    )
    assert [i["key"] for i in items] == ["d1", "n"]
    assert [i["key"] for i in overflow] == ["d2"]
    assert "start_minute" not in overflow[0]


def _series_and_meeting() -> tuple[MeetingSeries, Meeting]:
    series = MeetingSeries(
        id="s",
        name="联席会议",
        kind="joint",
        region="610124",
        cadence="monthly",
        duration_minutes=90,
        invited=[],
        quorum_kinds=[],
        created_at=T,
    )
    meeting = Meeting(
        id="m",
        series_id="s",
        title="十二月会议",
        starts_at=T + timedelta(days=30),
        duration_minutes=90,
        location="县电商中心",
        cutoff_at=T,
        status="published",
        created_at=T,
    )
    return series, meeting


def test_calendar_is_valid_icalendar_with_the_agenda() -> None:
    series, meeting = _series_and_meeting()
    item = {"start_minute": 0, "title": "纠纷", "reason_code": "agenda_dispute", "reason_params": {}}
    parsed = Calendar.from_ical(calendar(series, [meeting], {"m": [item]}))
    event = next(iter(parsed.walk("VEVENT")))
    assert event.decoded("dtend") - event.decoded("dtstart") == timedelta(minutes=90)
    assert str(event["location"]) == "县电商中心" and "纠纷" in str(event["description"])
    assert "联席会议" in str(event["summary"])
    assert "社区提出的纠纷" in str(event["description"])
    assert not re.search("[A-Za-z]", str(event["description"]))


def test_calendar_in_english_renders_the_reasons_in_english() -> None:
    series, meeting = _series_and_meeting()
    item = {
        "start_minute": 0,
        "title": "提交方案",
        "reason_code": "agenda_overdue_action",
        "reason_params": {"due_date": "2026-11-20"},
    }
    event = next(iter(Calendar.from_ical(calendar(series, [meeting], {"m": [item]}, "en")).walk("VEVENT")))
    assert "提交方案 — overdue since 2026-11-20" in str(event["description"])
    assert "Joint meeting" in str(event["summary"])


# -- agenda reasons and rules as codes ------------------------------------------------------------

# A sample value for each parameter an agenda code takes; what is left of the Chinese text
# without them has no ASCII letter.
_SAMPLES: dict[str, Any] = {"days": 20, "count": 3, "due_date": "2026-11-20", "base": 80, "bonus": 10}
_AGENDA_CODES = sorted(code for code in TEXTS if code.startswith(("agenda_", "priority_")))


def test_every_source_and_the_coordinator_have_a_reason_and_a_rule_code() -> None:
    expected = {f"{prefix}_{source}" for source in RULES for prefix in ("agenda", "priority")}
    expected |= {"agenda_added_by_coordinator", "priority_placed_by_coordinator"}
    assert set(_AGENDA_CODES) == expected


@pytest.mark.parametrize("code", _AGENDA_CODES)
def test_every_agenda_code_renders_in_both_languages_and_chinese_has_no_ascii_letters(code: str) -> None:
    names = {name for _, name, _, _ in Formatter().parse(TEXTS[code][1]) if name}
    assert names <= set(_SAMPLES)
    params = {name: _SAMPLES[name] for name in names}
    zh, en = render(code, params, "zh"), render(code, params, "en")
    assert zh and en and zh != en and code not in (zh, en)
    assert "{" not in zh + en  # every placeholder filled
    assert not re.search("[A-Za-z]", zh), zh
    for value in params.values():
        assert str(value) in zh and str(value) in en


def test_a_compiled_item_renders_its_reason_and_rule_in_either_language() -> None:
    (item,), _ = compile_agenda([_c("need", "unmatched_need", weight=2)], duration_minutes=60)
    assert agenda_reason(item, "zh") == "需求已 20 天未获匹配"
    assert agenda_reason(item, "en") == "unmatched for 20 days"
    assert agenda_rule(item, "zh") == "40 + 6（按等待周数）"
    assert agenda_rule(item, "en") == "40 + 6 for weeks waiting"
    read = AgendaItemRead.model_validate(item).model_dump(mode="json")
    assert read["reason_text"] == {"zh": "需求已 20 天未获匹配", "en": "unmatched for 20 days"}
    assert read["priority_rule_text"]["zh"] == "40 + 6（按等待周数）" and read["reason"] == ""


def test_words_a_coordinator_typed_are_shown_as_typed() -> None:
    item = {"reason": "村委会要求讨论", "reason_code": "agenda_added_by_coordinator", "reason_params": {}}
    assert agenda_reason(item, "zh") == agenda_reason(item, "en") == "村委会要求讨论"
    assert agenda_reason(item | {"reason": ""}, "zh") == "由协调员添加"


def test_an_item_stored_before_the_codes_still_shows_its_english_sentences() -> None:
    old = {
        "key": "need:n1",
        "source": "unmatched_need",
        "title": "冷链车",
        "reason": "unmatched for 20 days",
        "link": "/needs/n1",
        "organisation_id": "east",
        "since": T.isoformat(),
        "priority": 43,
        "priority_rule": "40 + 3 for weeks waiting",
        "minutes": 5,
        "start_minute": 0,
        "end_minute": 5,
    }
    for lang in ("zh", "en"):
        assert agenda_reason(old, lang) == "unmatched for 20 days"
        assert agenda_rule(old, lang) == "40 + 3 for weeks waiting"
    read = AgendaItemRead.model_validate(old).model_dump(mode="json")
    assert read["reason_code"] is None and read["reason_params"] == {}
    assert read["reason_text"] == {"zh": "unmatched for 20 days", "en": "unmatched for 20 days"}
    assert read["priority_rule_text"]["en"] == "40 + 3 for weeks waiting"
    series, meeting = _series_and_meeting()
    event = next(iter(Calendar.from_ical(calendar(series, [meeting], {"m": [old]})).walk("VEVENT")))
    assert "冷链车 — unmatched for 20 days" in str(event["description"])


def test_minutes_and_actions_carry_labels_in_either_language() -> None:
    content = {
        "meeting": {
            "title": "十二月会议",
            "series": "联席会议",
            "kind": "negotiation",
            "starts_at": "2026-12-01",
            "location": "县城",
        },
        "attendance": [{"organisation_id": "o1", "present": True, "representative": "王强"}],
        "quorum": {"met": False},
        "decisions": [
            {
                "title": "品牌",
                "outcome": "deferred",
                "minutes": "",
                "positions": [{"organisation_id": "o1", "position": "abstain", "reason": ""}],
            }
        ],
        "actions": [],
        "minutes": "",
    }
    zh = minutes_markdown(content, "ab" * 32, {"o1": "东村"}, "zh")
    en = minutes_markdown(content, "ab" * 32, {"o1": "东村"}, "en")
    assert "项目洽谈会" in zh and "暂缓" in zh and "东村 (王强): 出席" in zh and "未达到" in zh
    assert "Project negotiation meeting" in en and "deferred" in en and "not met" in en
    action = ActionItem(
        id="a",
        meeting_id="m",
        decision_id="d",
        owner_organisation_id="o1",
        title="结算",
        due_date=date(2026, 12, 9),
        status="overdue",
        links=[],
        progress=[],
        updated_at=T,
    )
    assert actions_csv([action], {"o1": "东村"}, "zh").splitlines() == [
        "事项,责任单位,截止日期,状态,id",
        "结算,东村,2026-12-09,已逾期,a",
    ]
