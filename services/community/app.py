"""The community service (port 8104)."""

from fastapi import FastAPI

from services.community.views import router
from shared.settings import ServiceSettings, settings_class
from shared.stakeholder.app import create_stakeholder_app

__all__ = ["SETTINGS", "create_app"]

SETTINGS = settings_class("community", port=8104)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_stakeholder_app(
        settings or SETTINGS(),
        kind="community",
        title="Sifang community service",
        description="Village committees and cooperatives publish produce lots, needs and offers.",
        routers=[router],
    )
