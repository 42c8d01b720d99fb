"""The ngo service (port 8103)."""

from fastapi import FastAPI

from services.ngo import service
from services.ngo.schemas import CourseCreate
from services.ngo.views import router
from shared.settings import StakeholderSettings, settings_class
from shared.stakeholder.app import create_stakeholder_app
from shared.stakeholder.portal.views import PortalForm, under

__all__ = ["SETTINGS", "create_app"]

# What the service's portal creates besides needs, offers and agenda items.
PORTAL_FORMS = [
    PortalForm(
        ("开设培训班", "Offer a training course"),
        CourseCreate,
        categories={"topic": under("training")},
        key="course",
        handle=service.offer_course,
        back="/portal/offers",
    ),
]

SETTINGS = settings_class("ngo", port=8103)


def create_app(settings: StakeholderSettings | None = None) -> FastAPI:
    return create_stakeholder_app(
        settings or SETTINGS(),
        kind="ngo",
        title="Sifang ngo service",
        description="Social organisations offer training courses and social-work services.",
        routers=[router],
        portal_forms=PORTAL_FORMS,
    )
