"""The enterprise service (port 8102)."""

from fastapi import FastAPI

from services.enterprise import service
from services.enterprise.schemas import ProcurementCreate
from services.enterprise.views import router
from shared.settings import StakeholderSettings, settings_class
from shared.stakeholder.app import create_stakeholder_app
from shared.stakeholder.portal.views import PortalForm, under

__all__ = ["SETTINGS", "create_app"]

# What the service's portal creates besides needs, offers and agenda items.
PORTAL_FORMS = [
    PortalForm(
        ("发布采购需求", "Request a procurement"),
        ProcurementCreate,
        categories={"product_category": under("produce")},
        key="procurement",
        handle=service.request_procurement,
        back="/portal/needs",
    ),
]

SETTINGS = settings_class("enterprise", port=8102)


def create_app(settings: StakeholderSettings | None = None) -> FastAPI:
    return create_stakeholder_app(
        settings or SETTINGS(),
        kind="enterprise",
        title="Sifang enterprise service",
        description="Companies publish procurement requests and channel, logistics and technology offers.",
        routers=[router],
        portal_forms=PORTAL_FORMS,
    )
