"""The government service (port 8101)."""

from fastapi import FastAPI

from services.government import service
from services.government.schemas import ProgrammeCreate
from services.government.views import router
from shared.settings import StakeholderSettings, settings_class
from shared.stakeholder.app import create_stakeholder_app
from shared.stakeholder.portal.views import PortalForm

__all__ = ["SETTINGS", "create_app"]

# What the service's portal creates besides needs, offers and agenda items.
PORTAL_FORMS = [
    PortalForm(
        ("开设扶持项目", "Open a programme"),
        ProgrammeCreate,
        key="programme",
        handle=service.open_programme,
        back="/portal/offers",
    ),
]

SETTINGS = settings_class("government", port=8101)


def create_app(settings: StakeholderSettings | None = None) -> FastAPI:
    return create_stakeholder_app(
        settings or SETTINGS(),
        kind="government",
        title="Sifang government service",
        description="County bureaus open subsidy, fund and training programmes and publish needs and offers.",
        routers=[router],
        portal_forms=PORTAL_FORMS,
    )
