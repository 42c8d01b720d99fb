"""The rules of meetings, without a database: the quorum, the record's hash chain, what
qualifies for an agenda, and how the agenda is ranked and time-boxed."""

import ast
import importlib.util
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from services.coordinator.meetings.agenda import (
    AgendaCandidate,
    AgendaReason,
    AgendaScope,
    LiveAction,
    LiveNeed,
    LiveOffer,
    RaisedItem,
    Refusal,
    compile_agenda,
    new_programmes,
    overdue_actions,
    qualifying,
    raised_items,
    slot_items,
    stalled_matches,
    unmatched_needs,
)
from services.coordinator.meetings.chain import (
    GENESIS,
    ChainLink,
    canonical,
    hash_record,
    verify_links,
)
from services.coordinator.meetings.quorum import check_quorum

AS_OF = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SCOPE = AgendaScope(
    series_id="s1", region="610124", as_of=AS_OF, since=AS_OF - timedelta(days=30), unmatched_days=14
)
SECOND = timedelta(seconds=1)
ALL_KINDS = ["government", "enterprise", "ngo", "community"]

# -- pure: no database, no web framework --------------------------------------------------------


def _imports(module: str) -> set[str]:
    """The modules ``module`` imports, and theirs within the project (packages' own
    ``__init__`` aside), by reading the source."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            found = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                found = [node.module]
            for imported in found:
                if imported not in seen:
                    seen.add(imported)
                    if imported.split(".")[0] in ("services", "shared"):
                        todo.append(imported)
    return seen


@pytest.mark.parametrize("rule", ["agenda", "chain", "quorum"])
def test_the_rules_import_neither_sqlalchemy_nor_fastapi(rule: str) -> None:
    imported = _imports(f"services.coordinator.meetings.{rule}")
    assert not {m for m in imported if m.split(".")[0] in ("sqlalchemy", "fastapi", "starlette")}


# -- quorum ----------------------------------------------------------------------------------


def test_the_quorum_is_met_when_every_required_kind_is_present() -> None:
    check = check_quorum(ALL_KINDS, ["community", "ngo", "enterprise", "government"])
    assert check.met
    assert check.missing_kinds == []
    assert check.present_kinds == ["community", "enterprise", "government", "ngo"]
    assert check.required_kinds == ALL_KINDS


def test_the_quorum_names_the_missing_kinds_in_the_series_order() -> None:
    check = check_quorum(ALL_KINDS, ["enterprise", "government"])
    assert not check.met
    assert check.missing_kinds == ["ngo", "community"]
    assert check.present_kinds == ["enterprise", "government"]


def test_several_organisations_of_one_kind_count_once_and_make_no_other_kind() -> None:
    check = check_quorum(["government", "community"], ["community", "community", "community"])
    assert not check.met
    assert check.present_kinds == ["community"]
    assert check.missing_kinds == ["government"]
    assert check_quorum(["community"], ["community", "community"]).met


def test_nobody_present_misses_every_kind_and_a_series_requiring_none_is_always_quorate() -> None:
    empty = check_quorum(ALL_KINDS, [])
    assert not empty.met and empty.missing_kinds == ALL_KINDS and empty.present_kinds == []
    assert check_quorum([], []).met
    assert check_quorum([], ["ngo"]).met


# -- the record's hash chain -------------------------------------------------------------------


def _chain(*contents: dict[str, object]) -> list[ChainLink]:
    links, previous = [], GENESIS
    for sequence, content in enumerate(contents, start=1):
        link = ChainLink(sequence, previous, dict(content), hash_record(previous, dict(content)))
        links.append(link)
        previous = link.record_hash
    return links


def test_a_chain_built_record_by_record_is_valid_and_its_head_is_the_last_hash() -> None:
    links = _chain({"minutes": "开会"}, {"text": "更正", "reason": "笔误"}, {"minutes": "第二次"})
    verdict = verify_links(links)
    assert verdict.valid and verdict.broken_at is None and verdict.records == 3
    assert verdict.head == links[-1].record_hash
    assert links[0].previous_hash == GENESIS and links[1].previous_hash == links[0].record_hash


def test_the_hash_covers_previous_hash_and_canonical_content() -> None:
    assert canonical({"b": 1, "a": "纪要"}) == '{"a":"纪要","b":1}'
    assert hash_record(GENESIS, {"a": 1, "b": 2}) == hash_record(GENESIS, {"b": 2, "a": 1})
    assert hash_record(GENESIS, {"a": 1}) != hash_record("1" * 64, {"a": 1})
    assert len(hash_record(GENESIS, {})) == 64


def test_edited_content_breaks_the_chain_at_the_edited_record() -> None:
    links = _chain({"minutes": "一"}, {"minutes": "二"}, {"minutes": "三"})
    tampered = [links[0], replace(links[1], content={"minutes": "篡改"}), links[2]]
    verdict = verify_links(tampered)
    assert not verdict.valid and verdict.broken_at == 2 and verdict.head is None
    assert verdict.records == 3
    first = verify_links([replace(links[0], content={"minutes": "篡改"}), *links[1:]])
    assert first.broken_at == 1


def test_a_record_that_does_not_follow_the_one_before_breaks_the_chain() -> None:
    links = _chain({"minutes": "一"}, {"minutes": "二"}, {"minutes": "三"})
    assert verify_links([links[0], links[2]]).broken_at == 3  # the second was cut out
    # Rehashed consistently but hung on the wrong predecessor: its own hash fits, its link not.
    relinked = ChainLink(2, GENESIS, {"minutes": "二"}, hash_record(GENESIS, {"minutes": "二"}))
    assert verify_links([links[0], relinked, links[2]]).broken_at == 2
    # Its hash still fits the chain, but the link it states was edited.
    misnamed = replace(links[1], previous_hash="f" * 64)
    assert verify_links([links[0], misnamed, links[2]]).broken_at == 2


def test_an_empty_chain_is_valid_and_its_head_is_genesis() -> None:
    verdict = verify_links([])
    assert verdict.valid and verdict.records == 0 and verdict.broken_at is None
    assert verdict.head == GENESIS


# -- what qualifies for the agenda ---------------------------------------------------------------


def _need(published: datetime, **changes: object) -> LiveNeed:
    need = LiveNeed("n1", "冷链车", "east", "610124104201", "open", published, matched=False)
    return replace(need, **changes)  # type: ignore[arg-type]


def test_a_need_qualifies_once_unmatched_for_the_threshold_and_not_a_second_before() -> None:
    threshold = AS_OF - timedelta(days=14)
    (at_threshold,) = unmatched_needs([_need(threshold)], SCOPE)
    assert at_threshold.key == "need:n1" and at_threshold.source == "unmatched_need"
    assert at_threshold.reason == AgendaReason("agenda_unmatched_need", {"days": 14})
    assert at_threshold.weight == 0
    assert unmatched_needs([_need(threshold + SECOND)], SCOPE) == []
    assert len(unmatched_needs([_need(threshold)], replace(SCOPE, unmatched_days=13))) == 1
    assert unmatched_needs([_need(threshold)], replace(SCOPE, unmatched_days=15)) == []


def test_a_waiting_need_gains_weight_per_full_week_beyond_the_threshold() -> None:
    weights = [
        unmatched_needs([_need(AS_OF - timedelta(days=days))], SCOPE)[0].weight for days in (20, 21, 27, 28)
    ]
    assert weights == [0, 1, 1, 2]


def test_a_matched_closed_or_distant_need_does_not_qualify() -> None:
    old = AS_OF - timedelta(days=40)
    assert unmatched_needs([_need(old, matched=True)], SCOPE) == []
    assert unmatched_needs([_need(old, status="withdrawn")], SCOPE) == []
    assert unmatched_needs([_need(old, region="610125000000")], SCOPE) == []
    assert len(unmatched_needs([_need(old, region="610124")], SCOPE)) == 1


def _refusal(days_before: float, status: str = "declined", need_id: str = "n1") -> Refusal:
    return Refusal(need_id, "610124104201", status, AS_OF - timedelta(days=days_before), "冷链车", "east")


def test_a_need_stalls_at_two_declined_or_expired_proposals() -> None:
    assert stalled_matches([_refusal(3)], SCOPE) == []
    (two,) = stalled_matches([_refusal(3), _refusal(1, "expired")], SCOPE)
    assert two.key == "stalled:n1" and two.weight == 0
    assert two.reason == AgendaReason("agenda_stalled_match", {"count": 2})
    assert two.since == AS_OF - timedelta(days=3)  # the first refusal
    assert two.title == "冷链车" and two.organisation_id == "east"
    (three,) = stalled_matches([_refusal(3), _refusal(2), _refusal(1)], SCOPE)
    assert three.weight == 1 and three.reason.params == {"count": 3}


def test_refusals_after_the_cut_off_other_states_or_other_needs_do_not_count() -> None:
    assert stalled_matches([_refusal(3), _refusal(0)], SCOPE) != []  # at the cut-off counts
    assert stalled_matches([_refusal(3), _refusal(-1 / 86400)], SCOPE) == []  # a second after
    assert stalled_matches([_refusal(3), _refusal(1, "withdrawn")], SCOPE) == []
    assert stalled_matches([_refusal(3), _refusal(1, need_id="n2")], SCOPE) == []
    distant = replace(_refusal(1), region="610125000000")
    assert stalled_matches([_refusal(3), distant], SCOPE) == []


def test_a_stalled_need_no_longer_in_the_book_is_named_by_its_id() -> None:
    gone = [replace(_refusal(d), need_title=None, need_organisation_id=None) for d in (2, 1)]
    (item,) = stalled_matches(gone, SCOPE)
    assert item.title == "n1" and item.organisation_id is None


def _raised(**changes: object) -> RaisedItem:
    item = RaisedItem(
        "p1", "proposal", "firm", "s1", "610124", "共建品牌", "pending", AS_OF - timedelta(days=1)
    )
    return replace(item, **changes)  # type: ignore[arg-type]


def test_a_pending_proposal_of_the_series_raised_by_the_cut_off_qualifies() -> None:
    (item,) = raised_items([_raised(raised_at=AS_OF)], SCOPE)
    assert (item.key, item.source, item.link) == ("proposal:p1", "proposal", "/proposals/p1")
    assert item.reason == AgendaReason("agenda_proposal")
    assert raised_items([_raised(raised_at=AS_OF + SECOND)], SCOPE) == []
    assert raised_items([_raised(status="decided")], SCOPE) == []
    assert raised_items([_raised(series_id="s2")], SCOPE) == []
    assert len(raised_items([_raised(series_id="s1", region="110101")], SCOPE)) == 1  # its series


def test_a_series_less_item_qualifies_in_the_series_region_only() -> None:
    village = _raised(series_id=None, region="610124104201", source="dispute", id="d1")
    (dispute,) = raised_items([village], SCOPE)
    assert (dispute.key, dispute.link) == ("dispute:d1", "/disputes/d1")
    assert dispute.reason == AgendaReason("agenda_dispute")
    assert raised_items([_raised(series_id=None, region="610125")], SCOPE) == []
    assert raised_items([_raised(series_id=None, region="610125104201")], SCOPE) == []


def test_an_overdue_action_of_the_series_qualifies_weighted_by_days_overdue() -> None:
    action = LiveAction("a1", "s1", "提交方案", "firm", "overdue", date(2026, 11, 20))
    (item,) = overdue_actions([action], SCOPE)
    assert item.key == "action:a1" and item.weight == 8
    assert item.reason == AgendaReason("agenda_overdue_action", {"due_date": "2026-11-20"})
    assert item.since == datetime(2026, 11, 20, tzinfo=UTC)
    assert overdue_actions([replace(action, status="open")], SCOPE) == []
    assert overdue_actions([replace(action, status="done")], SCOPE) == []
    assert overdue_actions([replace(action, series_id="s2")], SCOPE) == []


def _offer(published: datetime, **changes: object) -> LiveOffer:
    offer = LiveOffer("o1", "government", "电商补贴", "bureau", "610124", "open", published)
    return replace(offer, **changes)  # type: ignore[arg-type]


def test_a_government_programme_qualifies_if_published_since_the_previous_meeting() -> None:
    since = SCOPE.since
    assert new_programmes([_offer(since)], SCOPE) == []  # at the previous meeting: old news
    (item,) = new_programmes([_offer(since + SECOND)], SCOPE)
    assert (item.key, item.source, item.link) == ("programme:o1", "new_programme", "/offers/o1")
    assert item.reason == AgendaReason("agenda_new_programme")
    assert len(new_programmes([_offer(AS_OF)], SCOPE)) == 1
    assert new_programmes([_offer(AS_OF + SECOND)], SCOPE) == []


def test_only_open_government_offers_of_the_region_are_programmes() -> None:
    published = AS_OF - timedelta(days=1)
    assert new_programmes([_offer(published, kind="enterprise")], SCOPE) == []
    assert new_programmes([_offer(published, status="closed")], SCOPE) == []
    assert new_programmes([_offer(published, region="610125")], SCOPE) == []


def test_qualifying_gathers_every_source() -> None:
    found = qualifying(
        SCOPE,
        raised=[_raised()],
        needs=[_need(AS_OF - timedelta(days=30))],
        refusals=[_refusal(2, need_id="n9"), _refusal(1, need_id="n9")],
        actions=[LiveAction("a1", "s1", "提交方案", "firm", "overdue", date(2026, 11, 20))],
        offers=[_offer(AS_OF - timedelta(days=1))],
    )
    assert sorted(c.source for c in found) == [
        "new_programme",
        "overdue_action",
        "proposal",
        "stalled_match",
        "unmatched_need",
    ]
    assert qualifying(SCOPE) == []


# -- priority and time-boxing ----------------------------------------------------------------


def _c(key: str, source: str, weight: int = 0, days: int = 0) -> AgendaCandidate:
    why = AgendaReason(f"agenda_{source}")
    return AgendaCandidate(key, source, key, why, f"/{key}", AS_OF + timedelta(days=days), weight=weight)


@pytest.mark.parametrize(
    ("source", "weight", "priority"),
    [
        ("dispute", 5, 90),
        ("proposal", 5, 60),
        ("new_programme", 5, 30),
        ("overdue_action", 0, 80),
        ("overdue_action", 3, 83),
        ("overdue_action", 10, 90),
        ("overdue_action", 11, 90),  # capped at +10
        ("stalled_match", 0, 50),
        ("stalled_match", 1, 55),
        ("stalled_match", 3, 65),
        ("stalled_match", 4, 65),  # capped at +15
        ("unmatched_need", 0, 40),
        ("unmatched_need", 2, 46),
        ("unmatched_need", 5, 55),
        ("unmatched_need", 6, 55),  # capped at +15
    ],
)
def test_priority_is_the_documented_base_plus_a_capped_bonus(source: str, weight: int, priority: int) -> None:
    assert _c("k", source, weight).priority()[0] == priority


def test_each_priority_states_its_rule_as_a_code_with_base_and_bonus() -> None:
    rule = AgendaReason
    assert _c("k", "overdue_action", 30).priority()[1] == rule(
        "priority_overdue_action", {"base": 80, "bonus": 10}
    )
    assert _c("k", "stalled_match", 1).priority()[1] == rule(
        "priority_stalled_match", {"base": 50, "bonus": 5}
    )
    assert _c("k", "unmatched_need", 2).priority()[1] == rule(
        "priority_unmatched_need", {"base": 40, "bonus": 6}
    )
    assert _c("k", "new_programme").priority()[1] == rule("priority_new_programme", {"base": 30, "bonus": 0})
    assert _c("k", "dispute", 5).priority()[1] == rule("priority_dispute", {"base": 90, "bonus": 0})


def test_ties_go_to_the_older_item_then_to_the_key() -> None:
    items, _ = compile_agenda(
        [
            _c("b-late", "proposal", days=2),
            _c("c-early", "proposal", days=1),
            _c("a-late", "proposal", days=2),
            _c("dispute", "dispute", days=5),
        ],
        duration_minutes=120,
    )
    assert [i["key"] for i in items] == ["dispute", "c-early", "a-late", "b-late"]


def test_a_key_given_twice_is_placed_once() -> None:
    items, overflow = compile_agenda([_c("same", "proposal"), _c("same", "proposal")], 120)
    assert [i["key"] for i in items] == ["same"] and overflow == []


def test_items_get_consecutive_slots_and_an_exact_fit_still_fits() -> None:
    items, overflow = compile_agenda([_c("d", "dispute"), _c("p", "proposal")], duration_minutes=35)
    assert [(i["key"], i["start_minute"], i["end_minute"], i["minutes"]) for i in items] == [
        ("d", 0, 20, 20),
        ("p", 20, 35, 15),
    ]
    assert overflow == []


def test_what_does_not_fit_overflows_without_a_slot_while_smaller_items_still_fill_in() -> None:
    placed, overflow = slot_items(
        [
            {"key": "a", "minutes": 20},
            {"key": "b", "minutes": 15, "start_minute": 99, "end_minute": 114},
            {"key": "c", "minutes": 10},
        ],
        duration_minutes=30,
    )
    assert [(i["key"], i["start_minute"], i["end_minute"]) for i in placed] == [("a", 0, 20), ("c", 20, 30)]
    assert overflow == [{"key": "b", "minutes": 15}]
