"""The event contracts, served publicly: the AsyncAPI document and a JSON Schema per event type."""

from typing import Any

from fastapi import APIRouter

from shared.errors import NotFound
from shared.events.catalogue import CATALOGUE
from shared.events.contracts import asyncapi_document, event_schema

__all__ = ["router"]

router = APIRouter(tags=["contracts"])


@router.get("/asyncapi.json", summary="AsyncAPI 3.0 document of every event")
def asyncapi() -> dict[str, Any]:
    return asyncapi_document()


@router.get("/schemas", summary="The event types, each with its JSON Schema address")
def schemas() -> list[dict[str, str]]:
    return [
        {"type": name, "schema": f"/schemas/{name}.json", "description": t.description}
        for name, t in CATALOGUE.items()
    ]


@router.get("/schemas/{event_type}.json", summary="JSON Schema of one event type")
def schema(event_type: str) -> dict[str, Any]:
    if event_type not in CATALOGUE:
        raise NotFound(f"no event type {event_type!r}", field="event_type")
    return event_schema(CATALOGUE[event_type])
