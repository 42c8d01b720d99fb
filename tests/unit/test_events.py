import json

import pytest

from shared.events.catalogue import CATALOGUE
from shared.events.envelope import CloudEvent, InvalidEvent
from shared.events.subjects import Subject
from shared.events.validation import check_event
from tests import factories


def test_envelope_is_cloudevents_structured_json_with_sifang_extensions() -> None:
    subject, envelope = factories.need_published("org-1")
    body = json.loads(envelope.to_json())
    assert subject == "sifang.community.610124.need.published"
    assert body["specversion"] == "1.0"
    assert body["type"] == "sifang.need.published.v1"
    assert body["source"] == "/sifang/community/org-1"
    assert body["subject"] == body["data"]["need_id"]
    assert body["region"] == "610124"
    assert body["correlationid"] == body["id"]  # a new conversation is named by its first event
    assert "causationid" not in body  # absent, never null
    assert body["id"][14] == "7"  # UUID version 7
    assert CloudEvent.from_json(envelope.to_json()) == envelope


def test_every_catalogue_entry_is_named_by_entity_verb_and_version() -> None:
    for name, entry in CATALOGUE.items():
        assert name == f"sifang.{entry.entity}.{entry.verb}.v{entry.version}"
        assert entry.id_field in entry.data_model.model_fields


def test_a_well_formed_event_passes_the_checks() -> None:
    subject, envelope = factories.need_published("org-1")
    checked = check_event(subject, envelope.to_json())
    assert checked.subject == Subject("community", "610124", "need", "published")
    assert checked.data.quantity == 30  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("subject", "change", "reason"),
    [
        ("sifang.community.610124.need.published", {"type": "sifang.need.exploded.v1"}, "unknown event type"),
        ("sifang.community.610124.need.published", {"id": None}, "id"),
        ("sifang.community.610124.need.published", {"specversion": "0.3"}, "specversion"),
        ("sifang.enterprise.610124.need.published", {}, "disagrees with subject kind"),
        ("sifang.community.610125.need.published", {}, "region"),
        ("sifang.community.610124.offer.published", {}, "does not carry"),
        (
            "sifang.community.610124.need.published",
            {"source": "/sifang/community/org-2"},
            "another organisation",
        ),
        ("sifang.community.610124.need.published", {"subject": "other-need"}, "not the entity"),
        ("not.a.subject", {}, "is not sifang"),
    ],
)
def test_events_breaking_the_contract_are_refused_with_the_reason(
    subject: str, change: dict[str, object], reason: str
) -> None:
    _, envelope = factories.need_published("org-1")
    with pytest.raises(InvalidEvent, match=reason):
        check_event(subject, factories.tampered(envelope, **change))


def test_data_that_does_not_fit_its_type_is_refused_naming_the_field() -> None:
    subject, envelope = factories.need_published("org-1")
    body = json.loads(envelope.to_json())
    body["data"]["quantity"] = "-3"
    with pytest.raises(InvalidEvent, match=r"data\.quantity"):
        check_event(subject, json.dumps(body).encode())


def test_only_government_services_open_programmes() -> None:
    from shared.events.data import EligibilityRules, ProgrammeOpened

    data = ProgrammeOpened(
        programme_id="p1",
        organisation_id="org-1",
        offer_id="o1",
        name="电商补贴",
        programme_kind="subsidy",
        budget=100000,
        unit="yuan",
        eligibility=EligibilityRules(),
    )
    subject, envelope = factories.event("community", "org-1", "programme", "opened", data)
    with pytest.raises(InvalidEvent, match="may not publish"):
        check_event(subject, envelope.to_json())


def test_garbage_bytes_are_refused() -> None:
    with pytest.raises(InvalidEvent, match="not a valid CloudEvent"):
        check_event("sifang.community.610124.need.published", b"\xff\xfe not json")


def test_derived_event_ids_are_uuid7_and_a_function_of_their_cause() -> None:
    import uuid
    from datetime import UTC, datetime

    from shared.events.envelope import derived_event_id

    at = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    first = derived_event_id(at, "tick", "coordinator")
    assert first == derived_event_id(at, "tick", "coordinator")
    assert first != derived_event_id(at, "tick", "coordinator-610124")
    assert first != derived_event_id(at.replace(minute=31), "tick", "coordinator")
    parsed = uuid.UUID(first)
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert int(first.replace("-", "")[:12], 16) == int(at.timestamp() * 1000)  # ordered by time


def test_nats_subject_filters_match_as_the_server_does() -> None:
    from shared.messaging.nats import subject_matches

    assert subject_matches("sifang.community.>", "sifang.community.610124.need.published")
    assert not subject_matches("sifang.community.>", "sifang.community")
    assert subject_matches(
        "sifang.coordinator.*.instruction.issued", "sifang.coordinator.610124.instruction.issued"
    )
    assert not subject_matches(
        "sifang.coordinator.*.instruction.issued", "sifang.coordinator.610124.match.proposed"
    )
    assert not subject_matches("sifang.a.b", "sifang.a.b.c")
