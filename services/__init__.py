"""The five Sifang services: four stakeholder services and the coordinator."""

from importlib import import_module
from typing import Any

from sqlalchemy import Table

__all__ = ["SERVICES", "STAKEHOLDER_SERVICES", "service_settings", "service_tables"]

STAKEHOLDER_SERVICES = ("government", "enterprise", "ngo", "community")
SERVICES = ("coordinator", *STAKEHOLDER_SERVICES)


def service_tables(service: str) -> tuple[Table, ...]:
    """The tables in ``service``'s own database."""
    tables: tuple[Table, ...] = import_module(f"services.{service}.models").TABLES
    return tables


def service_settings(service: str, **overrides: Any) -> Any:
    """The settings of ``service`` read from the environment (``overrides`` win)."""
    settings_class = import_module(f"services.{service}.app").SETTINGS
    return settings_class(**overrides)
