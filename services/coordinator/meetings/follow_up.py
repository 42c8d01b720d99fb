"""Following decisions up: each action's state published as its next version, actions past
their date marked overdue (at the clock's tick), the owners' progress, and what each meeting of
a series decided and what became of it."""

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.coordinator.journal.service import publish
from services.coordinator.meetings.models import ActionItem, Decision, Meeting
from services.coordinator.meetings.series import get_meeting
from shared.events.data import ActionData

__all__ = ["action_data", "mark_overdue", "publish_action", "report_progress", "series_history"]


def action_data(action: ActionItem) -> ActionData:
    return ActionData(
        action_id=action.id,
        meeting_id=action.meeting_id,
        decision_id=action.decision_id,
        owner_organisation_id=action.owner_organisation_id,
        title=action.title,
        due_date=action.due_date,
        status=action.status,
        links=list(action.links),
        progress=list(action.progress),
        version=action.version,
    )


def publish_action(session: Session, action: ActionItem, verb: str, region: str) -> None:
    """Publish the action's new state as its next version."""
    action.version += 1
    session.flush()
    publish(session, f"sifang.action.{verb}.v1", action_data(action), region, correlated=False)


def mark_overdue(session: Session, today: date) -> list[ActionItem]:
    """Unfinished actions past their due date become overdue and are published as such
    (while the clock's tick is applied)."""
    due = list(
        session.scalars(
            select(ActionItem)
            .where(ActionItem.status.in_(("open", "in_progress", "blocked")), ActionItem.due_date < today)
            .order_by(ActionItem.id)
        )
    )
    regions: dict[str, str] = {}
    for action in due:
        action.status = "overdue"
        if action.meeting_id not in regions:
            regions[action.meeting_id] = get_meeting(session, action.meeting_id)[1].region
        session.flush()
        publish_action(session, action, "overdue", regions[action.meeting_id])
    return due


def report_progress(
    session: Session,
    action_id: str,
    organisation_id: str,
    *,
    status: str,
    note: str,
    evidence_url: str,
    at: datetime,
) -> ActionItem | None:
    """The owner's report; an overdue action stays overdue until done. None if the organisation
    owns no such action."""
    action = session.get(ActionItem, action_id)
    if action is None or action.owner_organisation_id != organisation_id:
        return None
    action.progress = [
        *action.progress,
        {"status": status, "note": note, "evidence_url": evidence_url, "at": at.isoformat()},
    ]
    overdue = action.status == "overdue" and status != "done"
    action.status = "overdue" if overdue else status
    action.updated_at = at
    session.flush()
    publish_action(session, action, "updated", get_meeting(session, action.meeting_id)[1].region)
    return action


def series_history(session: Session, series_id: str) -> list[dict[str, Any]]:
    """What each meeting of the series decided and what became of its actions."""
    meetings = session.scalars(
        select(Meeting).where(Meeting.series_id == series_id).order_by(Meeting.starts_at)
    )
    actions_by_decision: dict[str, list[dict[str, Any]]] = defaultdict(list)
    history = []
    for meeting in meetings:
        for action in session.scalars(select(ActionItem).where(ActionItem.meeting_id == meeting.id)):
            actions_by_decision[action.decision_id].append(action_data(action).model_dump(mode="json"))
        decisions = session.scalars(
            select(Decision).where(Decision.meeting_id == meeting.id).order_by(Decision.recorded_at)
        )
        history.append(
            {
                "meeting_id": meeting.id,
                "title": meeting.title,
                "starts_at": meeting.starts_at.isoformat(),
                "status": meeting.status,
                "decisions": [
                    {
                        "id": d.id,
                        "title": d.title,
                        "outcome": d.outcome,
                        "actions": actions_by_decision.get(d.id, []),
                    }
                    for d in decisions
                ],
            }
        )
    return history
