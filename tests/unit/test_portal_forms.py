"""The portal's forms, made from the API's request schemas, without a database or a server."""

from decimal import Decimal

import pytest

from services.ngo.schemas import CourseCreate
from shared.requirements import Requirements
from shared.stakeholder.portal.forms import fields_of, form_values, parse
from shared.stakeholder.portal.i18n import FIELDS, error_text
from shared.stakeholder.portal.service import evidence_type
from shared.stakeholder.schemas import NeedCreate


def test_a_needs_form_asks_first_for_what_and_how_much_and_groups_its_requirements_last() -> None:
    fields = fields_of(NeedCreate)
    names = [f.name for f in fields]
    assert names[:4] == ["category", "title", "quantity", "unit"]
    assert "attributes" not in names  # free-form attributes are for systems
    groups = [f.group for f in fields]
    assert groups[-len(Requirements.model_fields) :] == ["requirements"] * len(Requirements.model_fields)
    assert {f.name: f.kind for f in fields}["requirements.required_certifications"] == "list"
    assert {f.name: f.required for f in fields}["quantity"] is True
    assert {f.name: f.required for f in fields}["window_end"] is False


def test_every_field_of_every_portal_form_has_a_chinese_and_an_english_label() -> None:
    from services.community.schemas import DisputeCreate, LotCreate
    from services.enterprise.schemas import ProcurementCreate
    from services.government.schemas import ProgrammeCreate
    from shared.stakeholder.schemas import OfferCreate

    for schema in (
        NeedCreate,
        OfferCreate,
        LotCreate,
        CourseCreate,
        ProcurementCreate,
        ProgrammeCreate,
        DisputeCreate,
    ):
        missing = {f.key for f in fields_of(schema)} - FIELDS.keys()
        assert not missing, (schema.__name__, missing)


def test_a_posted_form_becomes_the_apis_command_with_lists_split_on_any_comma() -> None:
    fields = fields_of(NeedCreate)
    command, errors = parse(
        NeedCreate,
        fields,
        {
            "category": "produce.fruit.kiwifruit",
            "title": "收购徐香猕猴桃",
            "quantity": "12.5",
            "unit": "t",
            "window_end": "",
            "requirements.required_certifications": "organic，green-food、 geographical-indication",
            "requirements.price_max": "",
        },
        "zh",
    )
    assert errors == []
    assert isinstance(command, NeedCreate)
    assert command.quantity == Decimal("12.5") and command.window_end is None
    assert command.requirements is not None
    assert command.requirements.required_certifications == [
        "organic",
        "green-food",
        "geographical-indication",
    ]


def test_errors_name_the_field_in_the_readers_language() -> None:
    fields = fields_of(CourseCreate)
    posted = {"title": "", "tier": "expert", "seats": "0", "start_date": "tomorrow", "end_date": "2027-01-01"}
    _, zh = parse(CourseCreate, fields, posted, "zh")
    _, en = parse(CourseCreate, fields, posted, "en")
    assert {e.field: e.message for e in zh} == {
        "title": "标题: 必须填写",
        "tier": "层级: 请从选项中选择",
        "seats": "名额（人）: 必须大于 0",
        "start_date": "开课日期: 必须是日期（年-月-日）",
    }
    assert {e.field: e.message for e in en}["seats"] == "Seats (people): must be more than 0"


def test_a_control_character_is_refused_before_anything_else() -> None:
    command, errors = parse(NeedCreate, fields_of(NeedCreate), {"title": "a\x00b"}, "en")
    assert command is None and errors[0].field == "title" and "control character" in errors[0].message


def test_a_record_fills_its_edit_form() -> None:
    fields = fields_of(NeedCreate)
    values = form_values(
        {"title": "培训", "quantity": "30", "requirements": {"required_certifications": ["organic", "gi"]}},
        fields,
    )
    assert values == {
        "title": "培训",
        "quantity": "30",
        "requirements.required_certifications": "organic、gi",
    }


def test_an_unknown_problem_is_still_named_and_our_own_checks_read_in_chinese() -> None:
    assert error_text("value_error", "zh", message="Value error, unknown unit 'x'").startswith(
        "不认识这个单位"
    )
    assert error_text("something_new", "zh", message="odd") == "格式不对：odd"
    assert error_text("string_too_long", "en", {"max_length": 200}) == "at most 200 characters"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\nrest", "image/png"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"<html><script>", None),
        (b"GIF89a", None),
        (b"XXXX\x00\x00\x00\x00WEBP", None),  # WEBP only inside a RIFF container
    ],
)
def test_evidence_is_known_by_its_first_bytes(content: bytes, expected: str | None) -> None:
    assert evidence_type(content) == expected
