"""A match's lifecycle (services/coordinator/matches/lifecycle.py): the allowed moves, the
refused ones, which states hold capacity, and how the status is stored."""

from itertools import product

import pytest

from services.coordinator.matches.lifecycle import (
    ACTIVE,
    REFUSED,
    TRANSITIONS,
    IllegalTransition,
    MatchStatus,
    check_transition,
    holds_capacity,
)
from services.coordinator.matches.models import Match, StatusColumn
from shared.errors import Conflict

S = MatchStatus

# The moves the module docstring draws, written out independently of TRANSITIONS.
ALLOWED = {
    (S.PROPOSED, S.CONFIRMED),
    (S.PROPOSED, S.DECLINED),
    (S.PROPOSED, S.EXPIRED),
    (S.PROPOSED, S.WITHDRAWN),
    (S.CONFIRMED, S.FULFILLED),
}
ALL_PAIRS = list(product(MatchStatus, repeat=2))
REFUSED_PAIRS = [pair for pair in ALL_PAIRS if pair not in ALLOWED]
TERMINAL = [S.FULFILLED, S.DECLINED, S.EXPIRED, S.WITHDRAWN]


def _id(pair: tuple[MatchStatus, MatchStatus]) -> str:
    return f"{pair[0]}->{pair[1]}"


def test_the_states_are_the_six_of_the_docstring() -> None:
    assert {s.value for s in MatchStatus} == {
        "proposed",
        "confirmed",
        "fulfilled",
        "declined",
        "expired",
        "withdrawn",
    }
    assert len(ALL_PAIRS) == 36
    assert len(REFUSED_PAIRS) == 31


def test_transitions_table_is_exactly_the_drawn_moves() -> None:
    assert set(TRANSITIONS) == set(MatchStatus)
    table = {(current, wanted) for current, targets in TRANSITIONS.items() for wanted in targets}
    assert table == ALLOWED


@pytest.mark.parametrize("pair", sorted(ALLOWED), ids=_id)
def test_allowed_move_passes(pair: tuple[MatchStatus, MatchStatus]) -> None:
    current, wanted = pair
    assert check_transition("m1", current, wanted) is None


@pytest.mark.parametrize("pair", REFUSED_PAIRS, ids=_id)
def test_every_other_move_is_refused_as_a_conflict_on_status(
    pair: tuple[MatchStatus, MatchStatus],
) -> None:
    current, wanted = pair
    with pytest.raises(IllegalTransition) as raised:
        check_transition("m-42", current, wanted)
    error = raised.value
    assert isinstance(error, Conflict)
    assert error.code == "conflict"
    assert error.field == "status"
    assert (error.current, error.wanted) == (current, wanted)
    assert "m-42" in error.message
    assert f"is {current}" in error.message
    assert f"cannot become {wanted}" in error.message


@pytest.mark.parametrize("state", TERMINAL)
def test_terminal_states_have_no_way_out(state: MatchStatus) -> None:
    assert TRANSITIONS[state] == frozenset()
    for wanted in MatchStatus:
        with pytest.raises(IllegalTransition, match="nothing: it is final"):
            check_transition("m1", state, wanted)


def test_the_refusal_lists_the_moves_that_are_allowed() -> None:
    with pytest.raises(IllegalTransition) as raised:
        check_transition("m1", S.PROPOSED, S.FULFILLED)
    assert "(from proposed: confirmed, declined, expired, withdrawn)" in raised.value.message


@pytest.mark.parametrize(
    ("status", "accepted_by", "holds"),
    [
        (S.PROPOSED, [], False),
        (S.PROPOSED, ["org-a"], True),
        (S.PROPOSED, ["org-a", "org-b"], True),
        (S.CONFIRMED, [], True),
        (S.CONFIRMED, ["org-a", "org-b"], True),
        (S.FULFILLED, [], True),
        (S.FULFILLED, ["org-a", "org-b"], True),
        (S.DECLINED, [], False),
        (S.DECLINED, ["org-a"], False),
        (S.EXPIRED, [], False),
        (S.EXPIRED, ["org-a"], False),
        (S.WITHDRAWN, [], False),
        (S.WITHDRAWN, ["org-a"], False),
    ],
)
def test_holds_capacity(status: MatchStatus, accepted_by: list[str], holds: bool) -> None:
    assert holds_capacity(status, bool(accepted_by)) is holds
    assert Match(status=status, accepted_by=accepted_by).holds_capacity is holds


def test_active_and_refused_are_what_the_module_says() -> None:
    # "still stands: it uses its offer's capacity and serves its need"
    assert frozenset({S.PROPOSED, S.CONFIRMED, S.FULFILLED}) == ACTIVE
    # "a need's party or the offer's said no, or let it lapse"
    assert frozenset({S.DECLINED, S.EXPIRED}) == REFUSED
    assert not ACTIVE & REFUSED
    assert S.WITHDRAWN not in ACTIVE | REFUSED


@pytest.mark.parametrize("status", list(MatchStatus))
def test_status_round_trips_through_the_column_type(status: MatchStatus) -> None:
    column = StatusColumn()
    stored = column.process_bind_param(status, dialect=None)
    assert stored == status.value
    assert type(stored) is str
    loaded = column.process_result_value(stored, dialect=None)
    assert loaded is status
    # a plain string with a known name is accepted too, and stored as that name
    assert column.process_bind_param(status.value, dialect=None) == status.value


def test_the_column_type_passes_null_through() -> None:
    column = StatusColumn()
    assert column.process_bind_param(None, dialect=None) is None
    assert column.process_result_value(None, dialect=None) is None


def test_the_column_type_rejects_an_unknown_status() -> None:
    column = StatusColumn()
    with pytest.raises(ValueError, match="cancelled"):
        column.process_bind_param("cancelled", dialect=None)
    with pytest.raises(ValueError, match="PROPOSED"):
        column.process_result_value("PROPOSED", dialect=None)


def test_match_status_column_uses_the_type_decorator() -> None:
    column = Match.__table__.c.status
    assert isinstance(column.type, StatusColumn)
    assert column.type.impl.length == 20
