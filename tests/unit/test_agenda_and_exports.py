from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar

from services.coordinator.meetings.agenda import AgendaCandidate, compile_agenda
from services.coordinator.meetings.exports import actions_csv, calendar, minutes_markdown
from services.coordinator.meetings.models import ActionItem, Meeting, MeetingSeries

T = datetime(2026, 11, 1, tzinfo=UTC)


def _c(key: str, source: str, days: int = 0, weight: int = 0) -> AgendaCandidate:
    return AgendaCandidate(key, source, key, "why", f"/{key}", T + timedelta(days=days), weight=weight)


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
    assert items[1]["priority_rule"] == "80 + 10 for days overdue"  # capped
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
    agenda = {"m": [{"start_minute": 0, "title": "纠纷", "reason": "raised"}]}
    parsed = Calendar.from_ical(calendar(series, [meeting], agenda))
    event = next(iter(parsed.walk("VEVENT")))
    assert event.decoded("dtend") - event.decoded("dtstart") == timedelta(minutes=90)
    assert str(event["location"]) == "县电商中心" and "纠纷" in str(event["description"])
    assert "联席会议" in str(event["summary"])


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
