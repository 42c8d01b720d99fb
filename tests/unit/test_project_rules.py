"""The rules of a cross-sector project, as pure functions (``shared/project_rules.py``), and
the agenda rule that brings overdue milestones back to the joint meeting."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.coordinator.meetings.agenda import AgendaScope, LiveMilestone, overdue_milestones
from shared.events.data import BudgetLine
from shared.project_rules import (
    RuleBroken,
    after_progress,
    check_answer,
    check_close,
    check_progress,
    next_due,
    overdue,
    status_of,
)


def member(org: str, kind: str, answer: str) -> dict[str, str]:
    return {"organisation_id": org, "kind": kind, "answer": answer}


def test_a_project_is_active_once_two_kinds_have_joined_and_says_why_until_then() -> None:
    waiting = status_of([member("v", "community", "joined"), member("s", "ngo", "pending")], None)
    assert (waiting.status, waiting.reason) == (
        "proposed",
        {"code": "project_waiting", "params": {"pending": ["s"]}},
    )
    one_kind = status_of(
        [
            member("v", "community", "joined"),
            member("w", "community", "joined"),
            member("s", "ngo", "declined"),
        ],
        None,
    )
    assert (one_kind.status, one_kind.reason["code"]) == ("proposed", "project_one_kind")
    assert one_kind.reason["params"] == {"kinds": ["community"]}
    assert (
        status_of([member("v", "community", "joined"), member("s", "ngo", "joined")], None).status == "active"
    )
    closed = status_of([member("v", "community", "joined")], {"outcome": "abandoned"})
    assert (closed.status, closed.reason["code"]) == ("abandoned", "project_abandoned")


def test_only_pending_members_answer_only_joined_members_report_only_the_lead_closes() -> None:
    members = [
        member("v", "community", "joined"),
        member("s", "ngo", "pending"),
        member("f", "enterprise", "declined"),
    ]
    milestones = [{"milestone_id": "m1", "status": "open"}, {"milestone_id": "m2", "status": "done"}]
    check_answer("proposed", members, "s")
    for org, status, message in (
        ("v", "proposed", "answered already"),
        ("x", "active", "not a member"),
        ("s", "completed", "completed"),
    ):
        with pytest.raises(RuleBroken, match=message):
            check_answer(status, members, org)
    assert check_progress("active", members, milestones, "v", "m1")["milestone_id"] == "m1"
    for org, status, milestone, field in (
        ("s", "active", "m1", "organisation_id"),
        ("v", "proposed", "m1", "project_id"),
        ("v", "active", "m2", "milestone_id"),
        ("v", "active", "m3", "milestone_id"),
    ):
        with pytest.raises(RuleBroken) as broken:
            check_progress(status, members, milestones, org, milestone)
        assert broken.value.field == field
    check_close("active", "v", "v")
    with pytest.raises(RuleBroken, match="only the project's lead"):
        check_close("active", "v", "s")
    with pytest.raises(RuleBroken, match="already"):
        check_close("completed", "v", "v")


def test_a_milestone_falls_overdue_once_and_stays_so_until_done() -> None:
    milestones = [
        {"milestone_id": "a", "status": "open", "due_date": "2026-12-01", "progress": []},
        {"milestone_id": "b", "status": "done", "due_date": "2026-11-01", "progress": []},
        {"milestone_id": "c", "status": "blocked", "due_date": "2026-11-30", "progress": []},
        {"milestone_id": "d", "status": "overdue", "due_date": "2026-11-01", "progress": []},
    ]
    assert overdue("active", milestones, date(2026, 12, 1)) == ["c"]
    assert overdue("active", milestones, date(2026, 12, 2)) == ["a", "c"]
    assert overdue("proposed", milestones, date(2027, 1, 1)) == []
    assert next_due(milestones) == date(2026, 11, 30)  # the blocked one; done and overdue ones wait no more
    assert next_due([milestones[1], milestones[3]]) is None
    late = after_progress(milestones[3], {"status": "in_progress"})
    assert late["status"] == "overdue" and len(late["progress"]) == 1
    assert after_progress(milestones[3], {"status": "done"})["status"] == "done"


def test_overdue_milestones_of_the_region_or_the_series_come_to_the_agenda() -> None:
    scope = AgendaScope(
        "series-1", "610124", datetime(2026, 12, 26, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    )

    def milestone(project: str, region: str, series: str | None, status: str = "overdue") -> LiveMilestone:
        return LiveMilestone(
            project, "m1", "品牌共建", "方案", "firm", region, series, status, date(2026, 12, 20)
        )

    found = overdue_milestones(
        [
            milestone("here", "610124104", None),
            milestone("decided-here", "610125", "series-1"),
            milestone("elsewhere", "610125", "series-2"),
            milestone("on-time", "610124", None, "open"),
        ],
        scope,
    )
    assert [c.key for c in found] == ["milestone:here:m1", "milestone:decided-here:m1"]
    assert found[0].priority()[0] == 76  # 70 + 6 days overdue


def test_a_budget_line_names_both_a_fund_and_its_share_or_neither() -> None:
    assert BudgetLine(line="a", title="t", amount=Decimal(1)).fund_id is None
    assert BudgetLine(line="a", title="t", amount=Decimal(1), fund_id="f", share="s").share == "s"
    for half in ({"fund_id": "f"}, {"share": "s"}):
        with pytest.raises(ValidationError, match="names both the fund and its share"):
            BudgetLine.model_validate({"line": "a", "title": "t", "amount": "1", **half})
