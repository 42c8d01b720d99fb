"""A stakeholder service in process (TestClient) on a migrated database and a real nats-server."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from shared.db import WriteGate
from shared.messaging.models import OutboxMessage

__all__ = ["ADMIN", "ADMIN_TOKEN", "Service", "apply_coordinator_events", "match_event", "writes_held"]

ADMIN_TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Service:
    def __init__(self, client: TestClient, url: str) -> None:
        self.client = client
        self.url = url

    def register(
        self, name: str = "秦岭村委会", region: str = "610124104201"
    ) -> tuple[dict[str, Any], dict[str, str]]:
        response = self.client.post("/organisations", headers=ADMIN, json={"name": name, "region": region})
        assert response.status_code == 201, response.text
        body = response.json()
        return body["organisation"], {"Authorization": f"Bearer {body['api_key']}"}

    def outbox(self) -> list[tuple[str, bytes]]:
        engine = create_engine(self.url)
        with engine.connect() as connection:
            rows = connection.execute(
                select(OutboxMessage.subject, OutboxMessage.payload).order_by(OutboxMessage.id)
            )
            found = [(subject, payload.encode()) for subject, payload in rows]
        engine.dispose()
        return found

    def outbox_types(self) -> list[str]:
        return [json.loads(payload)["type"] for _, payload in self.outbox()]


def match_event(
    org_id: str,
    version: int,
    verb: str,
    *,
    quantity: int = 10,
    accepted_by: tuple[str, ...] = (),
    explanation: dict[str, Any] | None = None,
) -> tuple[str, bytes]:
    """A coordinator match event for match ``m-1``, whose need is ``org_id``'s."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from shared.events.catalogue import CATALOGUE
    from shared.events.data import MatchData

    data = MatchData(
        match_id="m-1",
        need_id="n-1",
        offer_id="o-1",
        need_organisation_id=org_id,
        offer_organisation_id="someone-else",
        category="training.livestream",
        quantity=Decimal(quantity),
        unit="person",
        offer_quantity=Decimal(quantity),
        offer_unit="person",
        score=0.8,
        status="proposed" if verb == "amended" else verb,  # type: ignore[arg-type]
        accepted_by=list(accepted_by),
        fulfilled_quantity=Decimal(0),
        proposed_at=datetime(2026, 12, 1, tzinfo=UTC),
        expires_at=None,
        reason="",
        explanation=explanation or {},
        version=version,
    )
    subject, event = CATALOGUE[f"sifang.match.{verb}.v1"].build(
        kind="coordinator", organisation_id="coordinator", region="610124", data=data
    )
    return subject, event.to_json()


def apply_coordinator_events(service: Service, *events: tuple[str, bytes]) -> None:
    from shared.events.validation import check_event
    from shared.messaging.consumer import Delivery
    from shared.stakeholder.app import apply_coordinator_event

    engine = create_engine(service.url)
    for sequence, (subject, payload) in enumerate(events, 1):
        with Session(engine) as session:
            apply_coordinator_event(
                session, check_event(subject, payload), Delivery(subject, payload, {}, sequence, 1)
            )
            session.commit()
    engine.dispose()


@contextmanager
def writes_held(url: str) -> Iterator[None]:
    """Every write to the service's database waits until the block ends (reads go on)."""
    if make_url(url).get_backend_name() == "sqlite":
        gate = WriteGate.of(str(make_url(url).database))
        gate.enter()
        try:
            yield
        finally:
            gate.leave()
        return
    engine = create_engine(url)
    with engine.connect() as connection:
        connection.execute(text(f"LOCK TABLE {OutboxMessage.__tablename__} IN EXCLUSIVE MODE"))
        yield
        connection.rollback()
    engine.dispose()
