"""Apply the Alembic migrations of one or every service: ``python -m shared.migrate [service...]``."""

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

__all__ = ["alembic_config", "upgrade"]

ROOT = Path(__file__).resolve().parent.parent


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
