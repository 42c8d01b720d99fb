"""Routes of the ngo service's own entity: training courses."""

from fastapi import APIRouter, status

from services.ngo import service
from services.ngo.models import TrainingCourse
from services.ngo.schemas import CourseCreate, CourseRead
from shared.app import UowDep
from shared.stakeholder.app import owned_entity_routes
from shared.stakeholder.service import OFFERS
from shared.stakeholder.views import CurrentOrg, listing_read

__all__ = ["router"]

router = APIRouter()


def course_read(course: TrainingCourse) -> CourseRead:
    return CourseRead(
        id=course.id,
        organisation_id=course.organisation_id,
        title=course.title,
        tier=course.tier,
        venue=course.venue,
        start_date=course.start_date,
        end_date=course.end_date,
        created_at=course.created_at,
        offer=listing_read(OFFERS, course.offer),
    )


@router.post(
    "/courses",
    status_code=status.HTTP_201_CREATED,
    response_model=CourseRead,
    tags=["courses"],
    summary="Offer a training course",
)
def offer_course(body: CourseCreate, uow: UowDep, org: CurrentOrg) -> CourseRead:
    return course_read(service.offer_course(uow, org, body))


owned_entity_routes(router, "/courses", TrainingCourse, course_read, CourseRead, "courses")
