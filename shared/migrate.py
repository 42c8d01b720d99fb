"""Apply the Alembic migrations of one or every service: ``python -m shared.migrate [service...]``."""

import sys
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime

from shared.db import UtcDateTime

__all__ = ["alembic_config", "compare_type", "render_item", "upgrade"]

ROOT = Path(__file__).resolve().parent.parent


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


def upgrade(service: str, url: str | None = None) -> None:
    """Bring ``service``'s database to the newest schema."""
    command.upgrade(alembic_config(service, url), "head")


def main(argv: list[str]) -> None:
    from services import SERVICES

    for service in argv or SERVICES:
        upgrade(service)
        print(f"migrated {service}")


if __name__ == "__main__":
    main(sys.argv[1:])
