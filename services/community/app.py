"""The community service (port 8104)."""

from fastapi import FastAPI

from services.community import service
from services.community.schemas import DisputeCreate, LotCreate
from services.community.views import router
from shared.settings import StakeholderSettings, settings_class
from shared.stakeholder.app import create_stakeholder_app
from shared.stakeholder.portal.views import PortalForm, under

__all__ = ["SETTINGS", "create_app"]

# What the service's portal creates besides needs, offers and agenda items.
PORTAL_FORMS = [
    PortalForm(
        ("登记农产品", "Offer a produce lot"),
        LotCreate,
        categories={"product_category": under("produce")},
        key="lot",
        handle=service.offer_lot,
        back="/portal/offers",
    ),
    PortalForm(
        ("申请调解纠纷", "Raise a dispute"),
        DisputeCreate,
        key="dispute",
        handle=service.raise_dispute,
    ),
]

SETTINGS = settings_class("community", port=8104)


def create_app(settings: StakeholderSettings | None = None) -> FastAPI:
    return create_stakeholder_app(
        settings or SETTINGS(),
        kind="community",
        title="Sifang community service",
        description="Village committees and cooperatives publish produce lots, needs and offers.",
        routers=[router],
        portal_forms=PORTAL_FORMS,
    )
