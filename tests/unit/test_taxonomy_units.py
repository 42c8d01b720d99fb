from decimal import Decimal

import pytest

from shared.taxonomy import CATEGORIES, VOCABULARIES, is_within, parent_of
from shared.units import InvalidUnit, canonical_unit, convert


def test_every_category_has_its_parent_in_the_taxonomy() -> None:
    for code in CATEGORIES:
        parent = parent_of(code)
        assert parent is None or parent in CATEGORIES, code


def test_branch_membership_is_by_whole_path_segments() -> None:
    assert is_within("produce.fruit.kiwifruit", "produce")
    assert is_within("produce", "produce")
    assert not is_within("produce_extra", "produce")


def test_vocabularies_keep_each_kinds_offers_to_its_own_branches() -> None:
    community = VOCABULARIES["community"]
    assert community.allows("offer", "produce.fruit.kiwifruit")
    assert not community.allows("offer", "funding.subsidy")
    assert VOCABULARIES["government"].allows("offer", "funding.subsidy")
    assert not VOCABULARIES["government"].allows("offer", "produce.tea")
    assert not community.allows("offer", "no.such.category")


def test_any_kind_may_need_any_category() -> None:
    for vocabulary in VOCABULARIES.values():
        assert vocabulary.categories("need") == list(CATEGORIES)
    assert VOCABULARIES["enterprise"].allows("need", "funding.subsidy")
    assert not VOCABULARIES["enterprise"].allows("need", "no.such.category")


def test_local_units_convert() -> None:
    assert convert(Decimal(3), "t", "斤") == Decimal(6000)
    assert convert(Decimal(2), "万元", "元") == Decimal(20000)
    assert canonical_unit("斤") == "jin"
    assert canonical_unit("人") == "person"


@pytest.mark.parametrize("bad", ["", "bushels-of-joy", "1", "kg kg("])
def test_unknown_units_are_refused(bad: str) -> None:
    with pytest.raises(InvalidUnit):
        canonical_unit(bad)
