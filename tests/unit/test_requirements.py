"""Reading and merging a listing's requirements and qualities (shared/requirements.py)."""

from decimal import Decimal

from shared.requirements import (
    Qualities,
    Requirements,
    quality_conflicts,
    requirement_conflicts,
    without_keys,
)


def test_the_older_need_keys_read_as_their_new_names() -> None:
    read = Requirements.of({"grade": "一级", "max_price_per_unit": "8000", "variety": "翠香"})
    assert (read.preferred_grade, read.price_max) == ("一级", Decimal(8000))
    newer = Requirements.of({"grade": "一级", "preferred_grade": "特级", "price_max": "9000"})
    assert (newer.preferred_grade, newer.price_max) == ("特级", Decimal(9000))


def test_stored_values_no_longer_valid_are_left_out_not_refused() -> None:
    read = Requirements.of({"required_certifications": "organic", "price_min": "9", "price_max": "3"})
    assert read == Requirements()
    assert Qualities.of({"grade": "", "certifications": ["organic"], "price_per_unit": "x"}) == Qualities(
        certifications=["organic"]
    )


def test_only_a_thing_stated_twice_differently_conflicts() -> None:
    stated = Requirements(preferred_grade="一级", price_max=Decimal("8000.00"))
    assert requirement_conflicts({"grade": "一级", "max_price_per_unit": "8000"}, stated) == []
    assert requirement_conflicts({"grade": "特级", "required_certifications": ["gap"]}, stated) == [
        "preferred_grade"
    ]
    assert quality_conflicts({"certifications": ["organic"]}, Qualities(certifications=["gap"])) == [
        "certifications"
    ]
    assert quality_conflicts({"grade": ""}, Qualities(grade="一级")) == []


def test_replacing_requirements_drops_the_older_keys_too() -> None:
    attributes = {"note": "x", "grade": "一级", "required_grade": "特级", "max_price_per_unit": "1"}
    assert without_keys(Requirements, attributes, "grade", "max_price_per_unit") == {"note": "x"}
