"""The ngo service (port 8103)."""

from fastapi import FastAPI

from services.ngo.views import router
from shared.settings import ServiceSettings, settings_class
from shared.stakeholder.app import create_stakeholder_app

__all__ = ["SETTINGS", "create_app"]

SETTINGS = settings_class("ngo", port=8103)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_stakeholder_app(
        settings or SETTINGS(),
        kind="ngo",
        title="Sifang ngo service",
        description="Social organisations offer training courses and social-work services.",
        routers=[router],
    )
