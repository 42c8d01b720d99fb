"""The committed contracts match the code, and emitted events satisfy them and the CloudEvents SDK."""

import json
from decimal import Decimal

import pytest
from cloudevents.core.formats.json import JSONFormat
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from shared.events.catalogue import CATALOGUE
from shared.events.contracts import DOCS, asyncapi_document, event_schema, rendered
from shared.events.data import LotOffered, MatchResponse
from tests import factories


def test_committed_contracts_match_the_code() -> None:
    stale = [
        path
        for path, text in rendered().items()
        if not (DOCS / path).exists() or (DOCS / path).read_text(encoding="utf-8") != text
    ]
    assert stale == [], "run `make contracts` and commit docs/: these drifted"
    committed = {p.name for p in (DOCS / "schemas").glob("*.json")}
    assert committed == {f"{name}.json" for name in CATALOGUE}, "docs/schemas has files for unknown types"


def test_every_event_type_has_a_channel_operation_and_message() -> None:
    document = asyncapi_document()
    assert document["asyncapi"] == "3.0.0"
    for event_type in CATALOGUE.values():
        name = f"{event_type.entity}_{event_type.verb}_v{event_type.version}"
        assert (
            document["channels"][name]["address"]
            == f"sifang.{{kind}}.{{region}}.{event_type.entity}.{event_type.verb}"
        )
        assert document["components"]["messages"][name]["contentType"] == "application/cloudevents+json"
        for kind in event_type.publishers:
            assert document["operations"][f"{kind}_{name}"]["action"] == "send"


SAMPLES = [
    factories.registered("org-1"),
    factories.need_published("org-1"),
    factories.event("community", "org-1", "offer", "published", factories.offer_data("org-1")),
    factories.event(
        "community",
        "org-1",
        "lot",
        "offered",
        LotOffered(
            lot_id="l1",
            organisation_id="org-1",
            offer_id="o1",
            product_category="produce.fruit.kiwifruit",
            variety="翠香",
            grade="一级",
            quantity=Decimal(5),
            unit="t",
            certifications=["green-food"],
        ),
    ),
    factories.event(
        "enterprise", "org-2", "match", "accepted", MatchResponse(match_id="m1", organisation_id="org-2")
    ),
]


@pytest.mark.parametrize(("subject", "envelope"), SAMPLES, ids=[e.type for _, e in SAMPLES])
def test_emitted_events_meet_their_schema_and_parse_with_the_cloudevents_sdk(
    subject: str, envelope: object
) -> None:
    payload = envelope.to_json()  # type: ignore[attr-defined]
    schema = event_schema(CATALOGUE[envelope.type])  # type: ignore[attr-defined]
    Draft202012Validator(schema).validate(json.loads(payload))
    parsed = JSONFormat().read(None, payload)  # the SDK's strict v1.0 validation
    assert parsed.get_specversion() == "1.0"
    assert parsed.get_type() == envelope.type  # type: ignore[attr-defined]
    assert parsed.get_source() == envelope.source  # type: ignore[attr-defined]
    assert parsed.get_id() == envelope.id  # type: ignore[attr-defined]
    assert parsed.get_extension("region") == subject.split(".")[2]
    assert parsed.get_extension("correlationid") == envelope.correlationid  # type: ignore[attr-defined]
    assert parsed.get_data() == json.loads(payload)["data"]


def test_a_schema_refuses_an_event_of_another_type() -> None:
    _, envelope = factories.need_published("org-1")
    body = json.loads(envelope.to_json())
    errors = list(
        Draft202012Validator(event_schema(CATALOGUE["sifang.offer.published.v1"])).iter_errors(body)
    )
    assert errors


def test_the_coordinator_serves_the_contracts() -> None:
    from services.coordinator.app import CoordinatorSettings, create_app

    app = create_app(CoordinatorSettings(database_url="sqlite:///:memory:", nats_url="nats://127.0.0.1:1"))
    client = TestClient(app)  # no lifespan: only the contract routes are exercised
    assert client.get("/asyncapi.json").json()["asyncapi"] == "3.0.0"
    assert client.get("/schemas/sifang.need.published.v1.json").json()["title"] == "sifang.need.published.v1"
    assert client.get("/schemas/sifang.nothing.v1.json").status_code == 404
    assert len(client.get("/schemas").json()) == len(CATALOGUE)
