"""The enterprise service (port 8102)."""

from fastapi import FastAPI

from services.enterprise.views import router
from shared.settings import ServiceSettings, settings_class
from shared.stakeholder.app import create_stakeholder_app

__all__ = ["SETTINGS", "create_app"]

SETTINGS = settings_class("enterprise", port=8102)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_stakeholder_app(
        settings or SETTINGS(),
        kind="enterprise",
        title="Sifang enterprise service",
        description="Companies publish procurement requests and channel, logistics and technology offers.",
        routers=[router],
    )
