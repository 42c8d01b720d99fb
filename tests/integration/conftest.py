"""Fixtures shared by the integration tests."""

from collections.abc import AsyncIterator, Callable

import pytest

from sifang.platform import LocalNats
from tests.integration.harness import CoordinatorHarness


@pytest.fixture
async def harness(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> AsyncIterator[CoordinatorHarness]:
    """A coordinator consumer on a migrated database and a real nats-server, driven by the test."""
    h = CoordinatorHarness(service_database("coordinator"), nats_server.url)
    yield h
    await h.close()
