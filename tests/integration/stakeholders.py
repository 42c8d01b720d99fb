"""A stakeholder service in process (TestClient) on a migrated database and a real nats-server."""

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from shared.messaging.models import OutboxMessage

__all__ = ["ADMIN", "ADMIN_TOKEN", "Service"]

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
