"""Test infrastructure: real nats-servers on free ports and real databases (SQLite, PostgreSQL).

Every test that takes ``backend`` (directly or through ``make_database``) runs once against
SQLite and once against PostgreSQL at ``SIFANG_TEST_POSTGRES_URL`` (default: the local
server). Setting that variable to an empty string skips the PostgreSQL runs; a set URL whose
server is unreachable fails them.
"""

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from services.migrate import upgrade
from shared.messaging.nats import provision_stream
from sifang.platform import LocalNats, free_port

POSTGRES_URL = os.environ.get(
    "SIFANG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[LocalNats]:
    """A fresh JetStream nats-server on a free port, anonymous, with the stream provisioned
    (as the bootstrap user would); tests may stop and start it. The permission tests run
    servers with users of their own (tests/integration/test_nats_permissions.py)."""
    server = LocalNats(free_port(), tmp_path / "nats-store", tmp_path / "nats.log")
    server.start()
    asyncio.run(provision_stream(server.url))
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and not POSTGRES_URL:
        pytest.skip("SIFANG_TEST_POSTGRES_URL is empty: PostgreSQL runs switched off")
    return str(request.param)


@pytest.fixture
def make_database(backend: str, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Creates empty databases on the backend under test; returns their URLs."""
    created: list[str] = []
    server = make_url(POSTGRES_URL) if backend == "postgres" else None
    admin = create_engine(server, isolation_level="AUTOCOMMIT") if server else None

    def make(name: str) -> str:
        if admin is None or server is None:
            return f"sqlite:///{tmp_path / name}-{uuid.uuid4().hex[:8]}.db"
        database = f"sifang_test_{name}_{uuid.uuid4().hex[:12]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{database}"'))
        created.append(database)
        return server.set(database=database).render_as_string(hide_password=False)

    yield make
    if admin is not None:
        with admin.connect() as connection:
            for database in created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def service_database(make_database: Callable[[str], str]) -> Callable[[str], str]:
    """A migrated database for the named service; returns its URL."""

    def make(service: str) -> str:
        url = make_database(service)
        upgrade(service, url)
        return url

    return make
