import pytest

from shared.regions import InvalidRegion, county_of, covers, level, validate_region


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("610000", "province"),
        ("610100", "city"),
        ("610124", "county"),
        ("610124104", "township"),
        ("610124104201", "village"),
    ],
)
def test_level_of_each_kind_of_code(code: str, expected: str) -> None:
    assert level(code) == expected


def test_county_wide_area_covers_its_villages_but_not_its_neighbours() -> None:
    assert covers("610124", "610124104201")
    assert covers("610100", "610124104201")
    assert covers("610000", "610124104201")
    assert covers("610124104201", "610124104201")
    assert not covers("610125", "610124104201")
    assert not covers("610124104201", "610124")  # a village does not cover its county


def test_county_of_village() -> None:
    assert county_of("610124104201") == "610124"


@pytest.mark.parametrize("bad", ["61012", "6101241", "abcdef", "000000", "610100104201", ""])
def test_malformed_codes_are_refused(bad: str) -> None:
    with pytest.raises(InvalidRegion):
        validate_region(bad)
