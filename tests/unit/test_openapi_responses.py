"""Every operation of every service documents what it answers: a typed JSON schema, or the
media type of what it sends otherwise (Markdown, HTML, CSV, iCalendar, server-sent events)."""

from importlib import import_module
from typing import Any

import pytest

from services import SERVICES

# Answers that are documents in a format of their own (an AsyncAPI document, a JSON Schema).
FREE_FORM = {"/asyncapi.json", "/schemas/{event_type}.json", "/open-data/market/schema"}


def _typed(schema: dict[str, Any]) -> bool:
    """A schema that says what is in the answer (not just "some object")."""
    if any(key in schema for key in ("$ref", "properties")):
        return True
    if "items" in schema:
        return _typed(schema["items"])
    if any(key in schema for key in ("anyOf", "oneOf", "allOf")):
        return True
    if schema.get("type") in ("string", "integer", "number", "boolean"):
        return True
    extra = schema.get("additionalProperties")
    return isinstance(extra, dict) and _typed(extra)


def _operations(service: str) -> list[tuple[str, str, dict[str, Any]]]:
    module = import_module(f"services.{service}.app")
    app = module.create_app(module.SETTINGS(database_url="sqlite://", admin_token="openapi-test-admin-token"))
    document = app.openapi()
    return [(method, path, op) for path, ops in document["paths"].items() for method, op in ops.items()]


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_has_a_typed_success_response(service: str) -> None:
    untyped = []
    for method, path, operation in _operations(service):
        success = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        assert success, f"{method} {path} documents no success response"
        for code, response in success.items():
            content = response.get("content", {})
            if not content and code in ("202", "204"):
                continue
            for media_type, body in content.items():
                schema = body.get("schema", {})
                if media_type == "application/json" and path not in FREE_FORM and not _typed(schema):
                    untyped.append(f"{method.upper()} {path} {code}: {schema}")
    assert untyped == []


def test_non_json_answers_are_documented_with_their_media_type() -> None:
    media = {
        path: next(iter(op["responses"]["200"]["content"]))
        for method, path, op in _operations("coordinator")
        if method == "get" and "200" in op["responses"]
    }
    assert media["/meetings/{meeting_id}/minutes.md"].startswith("text/markdown")
    assert media["/meetings/{meeting_id}/minutes.html"].startswith("text/html")
    assert media["/actions.csv"].startswith("text/csv")
    assert media["/open-data/market.csv"].startswith("text/csv")
    assert media["/open-data/funds/{fund_id}/utilisation.csv"].startswith("text/csv")
    assert media["/meetings/{meeting_id}/calendar.ics"].startswith("text/calendar")
    assert media["/stream"] == "text/event-stream"
    assert media["/meetings/{meeting_id}"] == "application/json"


def test_an_untyped_answer_is_recognised() -> None:
    assert not _typed({"type": "object", "additionalProperties": True, "title": "Response"})
    assert not _typed({})
    assert _typed({"$ref": "#/components/schemas/MeetingRead"})
    assert _typed({"type": "object", "additionalProperties": {"type": "string"}})
    assert not _typed({"type": "array", "items": {"type": "object", "additionalProperties": True}})
