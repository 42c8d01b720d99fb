"""The Alembic migrations create exactly the schema the models describe, on every backend."""

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, select

from services import SERVICES, STAKEHOLDER_SERVICES, service_tables
from services.migrate import (
    alembic_config,
    compare_type,
    current_heads,
    newest_heads,
    restamped,
    upgrade,
)
from shared.db import make_engine, metadata_of
from shared.messaging.models import OutboxMessage
from shared.stakeholder.models import Need, Organisation


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


# Databases made before the migrations became branches (one linear history per service, kept
# under tests/integration/legacy_migrations/) are restamped and upgraded in place by services.migrate.upgrade.
LEGACY_HEADS = {
    "coordinator": "coordinator_0010",
    **{service: f"{service}_0003" for service in STAKEHOLDER_SERVICES},
}
EVENT_ID = "0190c0de-0000-7000-8000-000000000001"
ORGANISATION_ID = "0190c0de-0000-7000-8000-000000000002"
NEED_ID = "0190c0de-0000-7000-8000-000000000003"


def legacy_config(service: str, url: str) -> Config:
    """The configuration of the history ``service``'s databases were made with before the branches."""
    config = alembic_config(service, url)
    config.set_section_option(
        service, "version_locations", str(Path(__file__).parent / "legacy_migrations" / service)
    )
    return config


def make_legacy_database(service: str, url: str, revision: str) -> None:
    """Migrate with the old history to ``revision`` and put some real data in."""
    config = legacy_config(service, url)
    assert ScriptDirectory.from_config(config).get_heads() == [LEGACY_HEADS[service]]
    command.upgrade(config, revision)
    engine = make_engine(url)
    with engine.begin() as connection:
        assert current_heads(connection) == (revision,)
        connection.execute(
            insert(OutboxMessage).values(
                event_id=EVENT_ID, event_type="need.published", subject="sifang.test", payload="{}"
            )
        )
        if service in STAKEHOLDER_SERVICES:
            connection.execute(
                insert(Organisation).values(
                    id=ORGANISATION_ID,
                    name="清水村合作社",
                    kind=service,
                    region="530102",
                    contact_person="李明",
                    contact_phone="13800000000",
                    contact_email="li@example.org",
                    api_key_hash="0" * 64,
                )
            )
            connection.execute(
                insert(Need).values(
                    id=NEED_ID,
                    organisation_id=ORGANISATION_ID,
                    category="seedlings",
                    title="Tea seedlings",
                    description="For the spring planting",
                    quantity=Decimal("1200.5"),
                    unit="plant",
                    region="530102",
                    attributes={"variety": "Yunkang 10"},
                )
            )
    engine.dispose()


def assert_upgraded_in_place(service: str, url: str) -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        outbox = connection.execute(select(OutboxMessage.__table__)).mappings().all()
        assert [(row["event_id"], row["event_type"]) for row in outbox] == [(EVENT_ID, "need.published")]
        if service in STAKEHOLDER_SERVICES:
            needs = connection.execute(select(Need.__table__)).mappings().all()
            assert [(row["id"], row["organisation_id"], row["quantity"]) for row in needs] == [
                (NEED_ID, ORGANISATION_ID, Decimal("1200.5"))
            ]
            assert connection.execute(select(Organisation.__table__.c.name)).scalars().all() == [
                "清水村合作社"
            ]
        context = MigrationContext.configure(connection, opts={"compare_type": compare_type})
        assert compare_metadata(context, metadata_of(service_tables(service))) == []
        assert current_heads(connection) == newest_heads(service)
    engine.dispose()


@pytest.mark.parametrize("service", SERVICES)
def test_databases_from_before_the_branches_upgrade_in_place(
    service: str, make_database: Callable[[str], str]
) -> None:
    url = make_database(service)
    make_legacy_database(service, url, LEGACY_HEADS[service])
    upgrade(service, url)
    assert_upgraded_in_place(service, url)
    upgrade(service, url)  # and once there, upgrading again changes nothing
    assert_upgraded_in_place(service, url)


@pytest.mark.parametrize("revision", ["community_0001", "community_0002"])
def test_databases_at_an_older_revision_from_before_the_branches_upgrade_in_place(
    revision: str, make_database: Callable[[str], str]
) -> None:
    url = make_database("community")
    make_legacy_database("community", url, revision)
    upgrade("community", url)
    assert_upgraded_in_place("community", url)


def test_a_new_database_is_stamped_with_the_newest_heads(make_database: Callable[[str], str]) -> None:
    url = make_database("community")
    upgrade("community", url)
    engine = make_engine(url)
    with engine.connect() as connection:
        assert current_heads(connection) == ("community_0004", "stakeholder_0007")
    engine.dispose()
    assert newest_heads("community") == ("community_0004", "stakeholder_0007")
    assert newest_heads("coordinator") == ("coordinator_0017",)
    assert newest_heads("government") == ("government_0006", "stakeholder_0007")


def test_every_revision_from_before_the_branches_has_its_place_in_the_graph() -> None:
    for service in SERVICES:
        script = ScriptDirectory.from_config(alembic_config(service))
        legacy = ScriptDirectory.from_config(legacy_config(service, "sqlite://"))
        for old in legacy.walk_revisions():
            new = restamped([old.revision])
            assert new and all(script.get_revision(revision) is not None for revision in new)
            if service in STAKEHOLDER_SERVICES:  # their ids now mean something else: never kept
                assert old.revision not in new
                assert old.revision not in {revision.revision for revision in script.walk_revisions()}
            else:  # the coordinator's ids are kept
                assert new == (old.revision,)
