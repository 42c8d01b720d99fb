"""The government service (port 8101)."""

from fastapi import FastAPI

from services.government.views import router
from shared.settings import ServiceSettings, settings_class
from shared.stakeholder.app import create_stakeholder_app

__all__ = ["SETTINGS", "create_app"]

SETTINGS = settings_class("government", port=8101)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_stakeholder_app(
        settings or SETTINGS(),
        kind="government",
        title="Sifang government service",
        description="County bureaus open subsidy, fund and training programmes and publish needs and offers.",
        routers=[router],
    )
