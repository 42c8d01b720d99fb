"""The Alembic migrations create exactly the schema the models describe, on every backend."""

from collections.abc import Callable

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from services import SERVICES, service_tables
from shared.db import make_engine, metadata_of
from shared.migrate import alembic_config, compare_type, upgrade


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_match_the_models(service: str, make_database: Callable[[str], str]) -> None:
    url = make_database(service)
    upgrade(service, url)
    engine = make_engine(url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": compare_type})
        differences = compare_metadata(context, metadata_of(service_tables(service)))
    engine.dispose()
    assert differences == []


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_downgrade_and_upgrade_again(service: str, make_database: Callable[[str], str]) -> None:
    url = make_database(service)
    upgrade(service, url)
    command.downgrade(alembic_config(service, url), "base")
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(service, url)
    tables = {t.name for t in service_tables(service)}
    assert tables <= set(inspect(engine).get_table_names())
    engine.dispose()
