"""Apply the Alembic migrations of one or every service: ``python -m services.migrate [service...]``.

Each service's migrations are Alembic branches (migrations/README.md has the layout): the
shared ``messaging`` branch (outbox, inbox, dead letters), the shared ``stakeholder`` branch
(organisations, needs, offers, match copies and answers, coordinator notices; the four
stakeholder services only) and the service's own branch, which ``depends_on`` the shared ones.
A database is at the newest schema when it is at every head, so :func:`upgrade` upgrades to
``"heads"``.

Databases made before the branches existed are upgraded in place. Their one linear history
per service is restamped, not replayed:

* A stakeholder service's database is stamped ``<service>_0001``, ``_0002`` or ``_0003``
  (``_0003`` was the newest). Those revisions created the shared tables together with the
  service's own, and the branches split the same steps without changing a table:
  ``<service>_0001`` = messaging_0001 + stakeholder_0001 + ``<service>_0004`` (the root of the
  service's own branch, creating its own table), ``_0002`` adds stakeholder_0002 (match
  copies and answers), ``_0003`` adds stakeholder_0003 (coordinator notices). Before
  upgrading, :func:`restamp_legacy` replaces an old id by the new revisions with exactly the
  same schema (:data:`LEGACY_REVISIONS`; ``<service>_0004`` implies messaging_0001 and
  stakeholder_0001 through ``depends_on``, as Alembic itself records it), so nothing is
  created twice and the data stays as it is. The
  old revision files are kept, unused by the service, under migrations/legacy/: they are what
  such databases were made with, and the tests build old databases from them.
* The coordinator keeps its revision ids: coordinator_0001 no longer creates the messaging
  tables itself but depends on messaging_0001, which creates the very same tables, so a
  database stamped with any coordinator revision already is what the new graph says it is.

Plain ``alembic -n <service> upgrade heads`` does not restamp: on an old stakeholder database
it stops with "Can't locate revision", changing nothing. ``python -m services.migrate`` (``make
migrate``, and ``make run`` before it starts the services) restamps first.
"""

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Connection, DateTime

from shared.db import UtcDateTime, make_engine

__all__ = [
    "LEGACY_REVISIONS",
    "alembic_config",
    "compare_type",
    "current_heads",
    "newest_heads",
    "render_item",
    "restamp_legacy",
    "restamped",
    "upgrade",
]

ROOT = Path(__file__).resolve().parent.parent

#: The revisions of the linear histories before the branches that are no longer in the graph,
#: each with the new revisions that describe exactly its schema, written as Alembic writes
#: them: without a revision another one already implies (``<service>_0004`` depends on
#: stakeholder_0001 and messaging_0001).
LEGACY_REVISIONS: dict[str, tuple[str, ...]] = {
    old: new
    for service in ("government", "enterprise", "ngo", "community")
    for old, new in (
        (f"{service}_0001", (f"{service}_0004",)),
        (f"{service}_0002", (f"{service}_0004", "stakeholder_0002")),
        (f"{service}_0003", (f"{service}_0004", "stakeholder_0003")),
    )
}


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write our UTC timestamp type into migrations as the plain type it stores as."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def compare_type(
    context: Any, inspected: Any, metadata: Any, inspected_type: Any, metadata_type: Any
) -> bool | None:
    """A UTC timestamp matches any DateTime column; everything else compares as usual."""
    if isinstance(metadata_type, UtcDateTime):
        return not isinstance(inspected_type, DateTime)
    return None


def alembic_config(service: str, url: str | None = None) -> Config:
    """The Alembic configuration of ``service``; ``url`` overrides its settings."""
    config = Config(str(ROOT / "alembic.ini"), ini_section=service)
    config.attributes["quiet"] = True
    if url:
        config.attributes["url"] = url
    return config


def current_heads(connection: Connection) -> tuple[str, ...]:
    """The revisions the database is stamped with (empty if it was never migrated)."""
    return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))


def newest_heads(service: str) -> tuple[str, ...]:
    """What a database of ``service`` at the newest schema is stamped with: every head that
    is not already implied through ``depends_on`` by another (as ``upgrade heads`` leaves it)."""
    script = ScriptDirectory.from_config(alembic_config(service))
    implied: set[str] = set()
    todo = [parent for head in script.get_revisions("heads") if head is not None for parent in _parents(head)]
    while todo:
        revision = script.get_revision(todo.pop())
        if revision is not None and revision.revision not in implied:
            implied.add(revision.revision)
            todo.extend(_parents(revision))
    return tuple(sorted(set(script.get_heads()) - implied))


def _parents(revision: Script) -> list[str]:
    """The revisions ``revision`` comes after: its down revisions and its dependencies."""
    return [*_strings(revision.down_revision), *_strings(revision.dependencies)]


def _strings(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def restamped(revisions: Iterable[str]) -> tuple[str, ...]:
    """``revisions`` with each legacy id replaced by the new revisions it amounts to."""
    return tuple(sorted({new for old in revisions for new in LEGACY_REVISIONS.get(old, (old,))}))


def restamp_legacy(service: str, url: str | None = None) -> tuple[str, ...] | None:
    """Restamp a database still stamped with a revision of the histories before the branches
    (see the module docstring); returns its new stamp, or None if there was nothing to do."""
    if url is None:
        from services import service_settings

        url = str(service_settings(service).effective_database_url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            current = current_heads(connection)
    finally:
        engine.dispose()
    if not any(revision in LEGACY_REVISIONS for revision in current):
        return None
    new = restamped(current)
    command.stamp(alembic_config(service, url), list(new), purge=True)
    return new


def upgrade(service: str, url: str | None = None) -> None:
    """Bring ``service``'s database to the newest schema (restamping an old one first)."""
    restamp_legacy(service, url)
    command.upgrade(alembic_config(service, url), "heads")


def main(argv: list[str]) -> None:
    from services import SERVICES

    for service in argv or SERVICES:
        upgrade(service)
        print(f"migrated {service}")


if __name__ == "__main__":
    main(sys.argv[1:])
