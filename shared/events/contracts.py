"""The published contracts, generated from the event catalogue: a JSON Schema for every event
type (the CloudEvents envelope with that type's ``data``) and one AsyncAPI 3.0 document for the
whole system. ``python -m shared.events.contracts`` writes them under ``docs/``; a test fails
when the committed files drift from the code.
"""

import json
import sys
from pathlib import Path
from typing import Any

from shared.events.catalogue import CATALOGUE, EventType
from shared.events.envelope import CONTENT_TYPE, TRACEPARENT
from shared.events.subjects import KINDS

__all__ = ["asyncapi_document", "event_schema", "write_contracts"]

DOCS = Path(__file__).resolve().parents[2] / "docs"
VERSION = "1.0.0"


def event_schema(event_type: EventType, ref_template: str = "#/$defs/{model}") -> dict[str, Any]:
    """JSON Schema (2020-12) of one event type: the envelope with its ``data`` model."""
    data = event_type.data_model.model_json_schema(ref_template=ref_template)
    defs = data.pop("$defs", {})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:sifang:event:{event_type.type}",
        "title": event_type.type,
        "description": event_type.description,
        "type": "object",
        "required": [
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "time",
            "datacontenttype",
            "region",
            "correlationid",
            "data",
        ],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "description": "UUIDv7", "minLength": 1},
            "source": {"type": "string", "pattern": f"^/sifang/({'|'.join(event_type.publishers)})/[^/]+$"},
            "type": {"const": event_type.type},
            "subject": {"type": "string", "description": f"the entity: data.{event_type.id_field}"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "dataschema": {"const": f"urn:sifang:event:{event_type.type}"},
            "region": {"type": "string", "pattern": r"^\d{6}$", "description": "GB/T 2260 county code"},
            "correlationid": {"type": "string"},
            "causationid": {"type": "string"},
            "traceparent": {
                "type": "string",
                "pattern": TRACEPARENT,
                "description": "CloudEvents distributed-tracing extension: the W3C trace context of "
                "the span that recorded the event (only when the publisher traces)",
            },
            "tracestate": {"type": "string", "maxLength": 512},
            "data": data,
        },
        "$defs": defs,
    }


def _operation_id(kind: str, event_type: EventType) -> str:
    return f"{kind}_{event_type.entity}_{event_type.verb}_v{event_type.version}"


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document: a channel per event type, a send operation per publishing service."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for event_type in CATALOGUE.values():
        name = f"{event_type.entity}_{event_type.verb}_v{event_type.version}"
        schema = event_schema(event_type, "#/components/schemas/{model}")
        schema.pop("$schema")
        schema.pop("$id")
        schemas |= schema.pop("$defs")
        messages[name] = {
            "name": event_type.type,
            "title": event_type.type,
            "summary": event_type.description,
            "contentType": CONTENT_TYPE,
            "payload": schema,
        }
        channels[name] = {
            "address": f"sifang.{{kind}}.{{region}}.{event_type.entity}.{event_type.verb}",
            "description": event_type.description,
            "parameters": {
                "kind": {"enum": list(event_type.publishers), "description": "the publishing service's kind"},
                "region": {"description": "six-digit GB/T 2260 county code"},
            },
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        for kind in event_type.publishers:
            operations[_operation_id(kind, event_type)] = {
                "action": "send",
                "title": f"The {kind} service publishes {event_type.type}",
                "channel": {"$ref": f"#/channels/{name}"},
                "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
                "tags": [{"name": kind}],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Sifang events",
            "version": VERSION,
            "description": (
                "Every change in Sifang is a CloudEvents 1.0 event in structured JSON mode on the NATS "
                "JetStream stream SIFANG (subjects sifang.>). The publishing service's kind is the second "
                "subject token and the county code the third. Additive changes keep an event type's "
                "version; breaking changes publish v<N+1> beside v<N> during a transition (docs/events.md)."
            ),
            "tags": [{"name": kind} for kind in KINDS],
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "embedded": {
                "host": "127.0.0.1:4233",
                "protocol": "nats",
                "description": "the nats-server that `make run` starts",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False) + "\n"


def rendered() -> dict[str, str]:
    """Every contract file, by its path under docs/, as it should read."""
    files = {"asyncapi.json": _dump(asyncapi_document())}
    for event_type in CATALOGUE.values():
        files[f"schemas/{event_type.type}.json"] = _dump(event_schema(event_type))
    return files


def write_contracts(root: Path = DOCS) -> list[Path]:
    written = []
    for relative, text in rendered().items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_contracts(Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS):
        print(path)
