"""The rules of mediating a dispute, as pure functions (``shared/mediation_rules.py``): who may
do what at each step, what each step waits for and until when, and when the clock reminds or
escalates."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.coordinator.meetings.agenda import AgendaScope, RaisedItem, raised_items
from shared.mediation_rules import (
    LIMITS,
    SETTLEMENTS,
    STATEMENTS_PER_PARTY,
    RuleBroken,
    check_answer,
    check_end,
    check_mediator,
    check_settlement,
    check_statement,
    due,
    settled,
    step_of,
)

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
PARTIES = ["village", "firm"]


def state(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "status": "awaiting_mediator",
        "raised_at": T0,
        "mediator": None,
        "mediator_since": None,
        "parties": PARTIES,
        "statements": [],
        "settlements": [],
        "reminders": [],
    }
    return base | changes


def settlement(
    status: str = "proposed", answers: list[dict[str, str]] | None = None, **more: Any
) -> dict[str, Any]:
    return {
        "settlement_id": "s1",
        "status": status,
        "proposed_at": T0 + timedelta(days=5),
        "answers": answers or [],
        "answered_at": None,
    } | more


def test_the_mediator_is_a_registered_social_work_organisation_that_is_not_a_party() -> None:
    check_mediator("awaiting_mediator", None, "ngo", "station", PARTIES)
    for args, message in (
        (("awaiting_mediator", None, None, "ghost", PARTIES), "not a registered organisation"),
        (("awaiting_mediator", None, "enterprise", "firm2", PARTIES), "social-work organisation"),
        (
            ("awaiting_mediator", None, "ngo", "firm", ["village", "firm"]),
            "a party to the dispute cannot mediate",
        ),
        (("in_mediation", "station", "ngo", "other", PARTIES), "has a mediator already"),
        (("settled", None, "ngo", "station", PARTIES), "the dispute is settled"),
    ):
        with pytest.raises(RuleBroken, match=message):
            check_mediator(*args)


def test_parties_state_and_answer_and_only_the_mediator_proposes_or_ends() -> None:
    check_statement("in_mediation", "station", PARTIES, "village")
    with pytest.raises(RuleBroken, match="not a party"):
        check_statement("in_mediation", "station", PARTIES, "station")
    with pytest.raises(RuleBroken, match="no mediator yet"):
        check_statement("awaiting_mediator", None, PARTIES, "village")
    check_settlement("in_mediation", "station", [], "station")
    with pytest.raises(RuleBroken, match="only the dispute's mediator"):
        check_settlement("in_mediation", "station", [], "village")
    with pytest.raises(RuleBroken, match="awaiting the parties' answers"):
        check_settlement("in_mediation", "station", [settlement()], "station")
    assert check_answer("in_mediation", PARTIES, [settlement()], "firm", "s1")["settlement_id"] == "s1"
    for org, sid, answers, message in (
        ("station", "s1", [], "not a party"),
        ("firm", "s0", [], "not awaiting answers"),
        ("firm", "s1", [{"organisation_id": "firm", "answer": "accept"}], "has answered"),
    ):
        with pytest.raises(RuleBroken, match=message):
            check_answer("in_mediation", PARTIES, [settlement(answers=answers)], org, sid)
    check_end("in_mediation", "station", "station")
    with pytest.raises(RuleBroken, match="only the dispute's mediator"):
        check_end("in_mediation", "station", "firm")


def test_a_settlement_settles_once_every_party_accepts_and_fails_on_one_rejection() -> None:
    assert settled(PARTIES, [{"organisation_id": "village", "answer": "accept"}]) is None
    assert (
        settled(
            PARTIES,
            [
                {"organisation_id": "village", "answer": "accept"},
                {"organisation_id": "firm", "answer": "accept"},
            ],
        )
        is True
    )
    assert settled(PARTIES, [{"organisation_id": "village", "answer": "reject"}]) is False


def test_each_step_waits_for_its_actors_until_its_limit() -> None:
    assert step_of(state()).name == "assign_mediator"
    assert step_of(state()).deadline == T0 + LIMITS["assign_mediator"]
    named = T0 + timedelta(days=1)
    mediating = state(status="in_mediation", mediator="station", mediator_since=named)
    assert (step_of(mediating).name, step_of(mediating).awaiting) == ("statements", PARTIES)
    stated = mediating | {"statements": [{"organisation_id": "village"}, {"organisation_id": "firm"}]}
    assert (step_of(stated).name, step_of(stated).awaiting, step_of(stated).deadline) == (
        "settlement",
        ["station"],
        named + LIMITS["settlement"],
    )
    answering = stated | {
        "settlements": [settlement(answers=[{"organisation_id": "village", "answer": "accept"}])]
    }
    assert (step_of(answering).name, step_of(answering).awaiting) == ("answers", ["firm"])
    rejected_at = T0 + timedelta(days=9)
    again = stated | {"settlements": [settlement("rejected", answered_at=rejected_at)]}
    assert (step_of(again).name, step_of(again).deadline) == (
        "settlement",
        rejected_at + LIMITS["settlement"],
    )
    assert step_of(state(status="settled")) is None


def test_the_clock_reminds_once_at_the_limit_and_escalates_at_twice_it() -> None:
    waiting = state()
    limit = T0 + LIMITS["assign_mediator"]
    assert due(waiting, limit - timedelta(seconds=1)) is None
    reminder = due(waiting, limit)
    assert reminder is not None and reminder.action == "remind"
    reminded = waiting | {"reminders": [{"step": "assign_mediator", "deadline": limit.isoformat()}]}
    assert due(reminded, limit + timedelta(days=1)) is None  # reminded once
    escalation = due(reminded, limit + LIMITS["assign_mediator"])
    assert (
        escalation is not None
        and escalation.action == "escalate"
        and escalation.step.name == "assign_mediator"
    )
    assert due(state(status="escalated"), limit + timedelta(days=30)) is None


def test_a_dispute_comes_to_the_agenda_when_escalated_or_when_nobody_mediates_it_in_time() -> None:
    scope = AgendaScope("series-1", "610124", T0 + timedelta(days=10), T0 - timedelta(days=30))

    def dispute(key: str, status: str, raised: datetime) -> RaisedItem:
        return RaisedItem(key, "dispute", "village", None, "610124104", "纠纷", status, raised)

    found = raised_items(
        [
            dispute("escalated", "pending", T0),
            dispute("unmediated", "awaiting_mediator", T0 + timedelta(days=7)),
            dispute("just-raised", "awaiting_mediator", T0 + timedelta(days=8)),
            dispute("mediating", "in_mediation", T0),
            dispute("settled", "settled", T0),
        ],
        scope,
    )
    assert [c.key for c in found] == ["dispute:escalated", "dispute:unmediated"]


def test_a_dispute_holds_few_statements_and_settlements_so_its_state_stays_a_small_event() -> None:
    said = [{"organisation_id": "village"}] * STATEMENTS_PER_PARTY
    check_statement("in_mediation", "station", PARTIES, "firm", said)
    with pytest.raises(RuleBroken, match=f"at most {STATEMENTS_PER_PARTY} statements"):
        check_statement("in_mediation", "station", PARTIES, "village", said)
    rejected = [settlement("rejected")] * SETTLEMENTS
    with pytest.raises(RuleBroken, match="declare the mediation failed instead"):
        check_settlement("in_mediation", "station", rejected, "station")
    with pytest.raises(RuleBroken, match="the dispute is decided"):
        check_statement("decided", "station", PARTIES, "village")
