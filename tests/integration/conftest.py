"""Fixtures shared by the integration tests."""

from collections.abc import AsyncIterator, Callable, Iterator
from importlib import import_module

import pytest
from fastapi.testclient import TestClient

from sifang.platform import LocalNats
from tests.integration.harness import CoordinatorHarness
from tests.integration.stakeholders import ADMIN_TOKEN, Service


@pytest.fixture
async def harness(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> AsyncIterator[CoordinatorHarness]:
    """A coordinator consumer on a migrated database and a real nats-server, driven by the test."""
    h = CoordinatorHarness(service_database("coordinator"), nats_server.url)
    yield h
    await h.close()


@pytest.fixture
def open_service(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> Iterator[Callable[[str], Service]]:
    clients: list[TestClient] = []

    def open_(name: str) -> Service:
        url = service_database(name)
        module = import_module(f"services.{name}.app")
        settings = module.SETTINGS(database_url=url, nats_url=nats_server.url, admin_token=ADMIN_TOKEN)
        client = TestClient(module.create_app(settings))
        client.__enter__()
        clients.append(client)
        return Service(client, url)

    yield open_
    for client in clients:
        client.__exit__(None, None, None)
