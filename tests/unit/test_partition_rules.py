"""The rules of coordinator partitions (no database, no server): where an offer's notices go,
what a partition hears, and which moves of a county are refused."""

import pytest

from services.coordinator.matching.reach import notice_regions, regions_beyond
from sifang.partitions import MoveRefused, Partition, plan_move

NORTH = Partition("sqlite:///north.db", "coordinator-north", ("610124",))
SOUTH = Partition("sqlite:///south.db", "coordinator-south", ("610125", "610126"))


def test_a_county_leaves_one_partition_and_joins_the_other() -> None:
    plan = plan_move("610125", SOUTH, NORTH)
    assert (plan.source_regions, plan.target_regions) == (["610126"], ["610124", "610125"])
    assert plan.sides == ("source", "target")  # dropped first: halfway, no two owners


def test_a_move_that_stopped_halfway_is_finished_with_resume() -> None:
    dropped = Partition(SOUTH.url, SOUTH.consumer, ("610126",))  # the source was rebuilt, then it stopped
    unfinished = {"county": "610125", "source": SOUTH.consumer, "target": NORTH.consumer}
    waiting = Partition(NORTH.url, NORTH.consumer, NORTH.regions, unfinished)
    with pytest.raises(MoveRefused, match="--resume"):
        plan_move("610125", dropped, waiting)
    plan = plan_move("610125", dropped, waiting, resume=True)
    assert (plan.sides, plan.target_regions) == (("target",), ["610124", "610125"])
    # only the move the target records: not another county, not from another partition
    with pytest.raises(MoveRefused, match="records no unfinished move"):
        plan_move("610127", dropped, waiting, resume=True)
    with pytest.raises(MoveRefused, match="records no unfinished move"):
        plan_move("610125", dropped, NORTH, resume=True)  # e.g. a third partition owns it


@pytest.mark.parametrize(
    ("county", "source", "target", "why"),
    [
        ("61012", SOUTH, NORTH, "region code"),
        ("610124104", SOUTH, NORTH, "not a six-digit code"),  # a township: partitions own counties
        ("610127", SOUTH, NORTH, "does not own 610127"),
        ("610125", SOUTH, SOUTH, "same partition"),
        ("610124", NORTH, SOUTH, "last county of north"),  # would leave north owning everything
        ("610124", SOUTH, NORTH, "north owns 610124 already"),
        ("610125", SOUTH, Partition("sqlite:///all.db", "coordinator-all", ()), "owns every county"),
        ("610125", SOUTH, Partition("sqlite:///n.db", "coordinator-n", ("610125",)), "owns 610125 already"),
    ],
)
def test_moves_that_would_leave_a_record_wrong_are_refused_saying_why(
    county: str, source: Partition, target: Partition, why: str
) -> None:
    with pytest.raises(MoveRefused, match=why):
        plan_move(county, source, target)


@pytest.mark.parametrize(
    ("area", "owned", "told"),
    [
        (["610124"], ["610124"], []),  # inside: nobody else to tell
        (["610124104201", "610124104"], ["610124"], []),  # a village and a township of its own
        (["610124", "610125"], ["610124"], ["610125"]),  # a neighbouring county
        (["610125104201"], ["610124"], ["610125"]),  # a village there: its county's subject
        (["610100"], ["610124"], ["610100"]),  # the city: may hold other partitions' counties
        (["610000", "620102"], ["610124", "610125"], ["610000", "620102"]),
        (["610125"], [], []),  # one coordinator owns everything: no notices at all
    ],
)
def test_an_offer_tells_the_regions_its_area_reaches_beyond_its_partition(
    area: list[str], owned: list[str], told: list[str]
) -> None:
    assert regions_beyond(area, owned) == told


def test_a_partition_hears_its_counties_and_the_cities_and_provinces_above_them() -> None:
    assert notice_regions(["610124", "610125", "620102"]) == [
        "610000",
        "610100",
        "610124",
        "610125",
        "620000",
        "620100",
        "620102",
    ]
    for area, owned in ((["610100"], ["610124"]), (["610125"], ["610124"])):
        # what one partition tells, a partition owning a county there hears
        assert set(regions_beyond(area, owned)) <= set(notice_regions(["610125"]))
