"""Text no database stores (NUL, other C0 controls, unpaired surrogates) is found and named."""

import json

import pytest

from shared.events.catalogue import CATALOGUE
from shared.events.data import NeedData
from shared.events.envelope import InvalidEvent
from shared.events.validation import check_event
from shared.text_guard import first_unstorable, problem_with


@pytest.mark.parametrize("text", ["直播带货培训", "line one\nline two\r\n", "a\tb", "", "emoji 🥝"])
def test_ordinary_text_tabs_and_line_breaks_are_fine(text: str) -> None:
    assert problem_with(text) is None


@pytest.mark.parametrize(
    ("text", "code"),
    [("a\x00b", "U+0000"), ("\x1b[31m", "U+001B"), ("x\x7f", "U+007F"), ("\ud800", "U+D800")],
)
def test_nul_controls_and_lone_surrogates_are_named(text: str, code: str) -> None:
    problem = problem_with(text)
    assert problem is not None and code in problem


def test_the_first_bad_string_is_found_with_its_dotted_path_keys_included() -> None:
    document = {"title": "ok", "attributes": {"certifications": ["organic", "gi\x00"]}}
    assert first_unstorable(document) == ("attributes.certifications.1", problem_with("gi\x00"))
    field, problem = first_unstorable({"attributes": {"k\x00": "v"}}) or ("", "")
    assert field == "attributes.k\x00" and problem.startswith(
        "the name contains the control character U+0000"
    )
    assert first_unstorable({"n": 10**40, "flag": True, "none": None, "list": [1.5]}) is None


def test_an_event_carrying_a_nul_fails_its_contract_naming_the_field() -> None:
    data = NeedData(
        need_id="n-1",
        organisation_id="org-1",
        category="training.livestream",
        title="培训",
        description="",
        quantity=30,
        unit="人",
        region="610124104201",
        attributes={},
        version=1,
    )
    subject, envelope = CATALOGUE["sifang.need.published.v1"].build(
        kind="community", organisation_id="org-1", region=data.region, data=data
    )
    document = json.loads(envelope.to_json())
    check_event(subject, json.dumps(document).encode())  # as built, it passes
    document["data"]["title"] = "培训\x00"
    with pytest.raises(InvalidEvent, match=r"data\.title: contains the control character U\+0000"):
        check_event(subject, json.dumps(document).encode())
