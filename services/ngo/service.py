"""Handlers of the ngo service."""

from services.ngo.models import TrainingCourse
from services.ngo.schemas import CourseCreate
from shared.db import UnitOfWork
from shared.events.data import CourseOffered
from shared.events.envelope import new_event_id
from shared.stakeholder.models import Organisation
from shared.stakeholder.schemas import OfferCreate
from shared.stakeholder.service import OFFERS, add_listing, emit

__all__ = ["offer_course"]


def offer_course(uow: UnitOfWork, org: Organisation, command: CourseCreate) -> TrainingCourse:
    """Offer a course: an offer of seats in the shared book plus the course's own details."""
    offer = add_listing(
        uow.session,
        org,
        OFFERS,
        OfferCreate(
            category=command.topic,
            title=command.title,
            description=command.description,
            quantity=command.seats,
            unit="seat",
            region=command.region,
            service_area=command.service_area,
            window_start=command.start_date,
            window_end=command.end_date,
            attributes={"tier": command.tier, "venue": command.venue},
        ),
    )
    course = TrainingCourse(
        id=new_event_id(),
        organisation_id=org.id,
        offer_id=offer.id,
        title=command.title,
        tier=command.tier,
        venue=command.venue,
        start_date=command.start_date,
        end_date=command.end_date,
    )
    course.offer = offer
    uow.session.add(course)
    event = CourseOffered(
        course_id=course.id,
        organisation_id=org.id,
        offer_id=offer.id,
        title=course.title,
        tier=command.tier,
        seats=command.seats,
        start_date=course.start_date,
        end_date=course.end_date,
        venue=course.venue,
    )
    emit(uow.session, org, "course", "offered", event, region=offer.region)
    uow.commit()
    return course
