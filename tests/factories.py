"""Builders of realistic events for tests."""

import json
from decimal import Decimal
from typing import Any

from shared.events.catalogue import CATALOGUE
from shared.events.data import (
    Contact,
    EventData,
    NeedData,
    NeedWithdrawn,
    OfferData,
    OrganisationRegistered,
)
from shared.events.envelope import CloudEvent, new_event_id

VILLAGE = "610124104201"  # a village of Zhouzhi county, Xi'an


def event(
    kind: str, org_id: str, entity: str, verb: str, data: EventData, region: str = VILLAGE
) -> tuple[str, CloudEvent]:
    """Subject and envelope of an event as a ``kind`` service would publish it."""
    return CATALOGUE[f"sifang.{entity}.{verb}.v1"].build(
        kind=kind, organisation_id=org_id, region=region, data=data
    )


def registered(
    org_id: str, kind: str = "community", name: str = "马召镇猕猴桃合作社"
) -> tuple[str, CloudEvent]:
    data = OrganisationRegistered(
        organisation_id=org_id,
        name=name,
        kind=kind,  # type: ignore[arg-type]
        region=VILLAGE,
        contact=Contact(person="王强"),
    )
    return event(kind, org_id, "organisation", "registered", data)


def need_data(
    org_id: str,
    need_id: str | None = None,
    *,
    version: int = 1,
    quantity: str = "30",
    title: str = "直播带货培训",
) -> NeedData:
    return NeedData(
        need_id=need_id or new_event_id(),
        organisation_id=org_id,
        category="training.livestream",
        title=title,
        description="三十名村民学习直播带货",
        quantity=Decimal(quantity),
        unit="person",
        region=VILLAGE,
        attributes={},
        version=version,
    )


def need_published(org_id: str, need_id: str | None = None, **kwargs: Any) -> tuple[str, CloudEvent]:
    return event("community", org_id, "need", "published", need_data(org_id, need_id, **kwargs))


def need_updated(org_id: str, need_id: str, **kwargs: Any) -> tuple[str, CloudEvent]:
    return event("community", org_id, "need", "updated", need_data(org_id, need_id, **kwargs))


def need_withdrawn(
    org_id: str, need_id: str, reason: str = "已找到培训", version: int | None = None
) -> tuple[str, CloudEvent]:
    data = NeedWithdrawn(need_id=need_id, organisation_id=org_id, reason=reason, version=version)
    return event("community", org_id, "need", "withdrawn", data)


def offer_data(org_id: str, offer_id: str | None = None) -> OfferData:
    return OfferData(
        offer_id=offer_id or new_event_id(),
        organisation_id=org_id,
        category="produce.fruit.kiwifruit",
        title="翠香猕猴桃",
        description="",
        quantity=Decimal(5),
        unit="t",
        region=VILLAGE,
        service_area=["610124"],
        attributes={"grade": "一级"},
        version=1,
    )


def tampered(envelope: CloudEvent, **changes: Any) -> bytes:
    """The JSON of ``envelope`` with top-level attributes changed (or removed, for None)."""
    body = json.loads(envelope.to_json())
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return json.dumps(body).encode()


def training_course(org: str, offer_id: str, seats: int, county: str = "610124") -> tuple[str, CloudEvent]:
    """An NGO's live-stream selling course of ``seats`` places, held for ``county``."""
    data = OfferData(
        offer_id=offer_id,
        organisation_id=org,
        category="training.livestream",
        title="直播带货培训班",
        description="",
        quantity=Decimal(seats),
        unit="人",
        region=f"{county}104201",
        service_area=[county],
        attributes={},
        version=1,
    )
    return event("ngo", org, "offer", "published", data)


def training_need(
    org: str,
    need_id: str,
    persons: int,
    *,
    region: str = VILLAGE,
    category: str = "training.livestream",
    kind: str = "community",
) -> tuple[str, CloudEvent]:
    """A need for ``persons`` to be trained (or, in another category, that many tonnes)."""
    data = NeedData(
        need_id=need_id,
        organisation_id=org,
        category=category,
        title="村民直播带货培训",
        description="",
        quantity=Decimal(persons),
        unit="人" if category.startswith("training") else "t",
        region=region,
        attributes={},
        version=1,
    )
    return event(kind, org, "need", "published", data)
