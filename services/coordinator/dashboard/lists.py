"""The dashboard's lists: for each, its filters, the query they select, the columns it sorts by,
and what a row of its CSV holds. The page and the CSV of a list are one query (``paging.py``)
selected by the same filters."""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Select, case, or_, select
from sqlalchemy.orm import Session

from services.coordinator.book.models import BookListing, BookNeed, BookOffer
from services.coordinator.book.queries import in_category, in_region
from services.coordinator.dashboard.i18n import Lang, category_label, t, unit_label
from services.coordinator.dashboard.paging import Sorts
from services.coordinator.funds.models import LedgerFund
from services.coordinator.matches.lifecycle import MatchStatus
from services.coordinator.matches.models import Match
from services.coordinator.mediation.models import Dispute
from services.coordinator.meetings.localtime import local_time
from services.coordinator.meetings.models import ActionItem, Meeting
from services.coordinator.projects.models import Project

__all__ = [
    "ActionSearch",
    "DisputeSearch",
    "Filters",
    "FundSearch",
    "ListingSearch",
    "MatchSearch",
    "MeetingSearch",
    "ProjectSearch",
    "action_query",
    "action_sorts",
    "dispute_query",
    "dispute_sorts",
    "fund_query",
    "fund_sorts",
    "listing_cells",
    "listing_header",
    "listing_query",
    "listing_sorts",
    "match_cells",
    "match_query",
    "match_sorts",
    "match_titles",
    "meeting_query",
    "meeting_sorts",
    "project_query",
    "project_sorts",
]


def _region(code: str) -> str | None:
    """A region filter that is all digits; anything else filters nothing."""
    return code if code.isascii() and code.isdigit() else None


@dataclass(frozen=True)
class Filters:
    """A list's filters, as its page and its CSV both read them from the URL."""

    def as_filters(self) -> dict[str, str]:
        """The filters by their query parameter's name, in the order the links carry them."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class ListingSearch(Filters):
    """The filters of the needs and offers pages."""

    q: str = ""
    kind: str = ""
    category: str = ""
    region: str = ""
    status: str = ""


@dataclass(frozen=True)
class MatchSearch(Filters):
    status: str = ""
    region: str = ""


@dataclass(frozen=True)
class MeetingSearch(Filters):
    status: str = ""


@dataclass(frozen=True)
class ActionSearch(Filters):
    """The filters of the action items (``meeting_id``: those of one meeting)."""

    status: str = ""
    owner: str = ""
    meeting_id: str = ""


@dataclass(frozen=True)
class ProjectSearch(Filters):
    status: str = ""
    region: str = ""


@dataclass(frozen=True)
class DisputeSearch(Filters):
    status: str = ""
    region: str = ""


@dataclass(frozen=True)
class FundSearch(Filters):
    region: str = ""


def _listing_model(side: str) -> type[BookListing]:
    return BookNeed if side == "need" else BookOffer


def listing_query(side: str, search: ListingSearch) -> Select[Any]:
    model = _listing_model(side)
    query = select(model)
    if search.q:
        q = search.q  # "%" and "_" are what they are, not wildcards
        query = query.where(
            or_(model.title.contains(q, autoescape=True), model.description.contains(q, autoescape=True))
        )
    if search.kind:
        query = query.where(model.kind == search.kind)
    if search.category:
        query = query.where(in_category(model.category, search.category))
    if region := _region(search.region):
        query = query.where(in_region(model.region, region))
    if search.status:
        query = query.where(model.status == search.status)
    return query


def listing_sorts(side: str) -> Sorts:
    model = _listing_model(side)
    return Sorts(
        {
            "published": (model.published_at,),
            "title": (model.title,),
            "category": (model.category,),
            "quantity": (model.quantity,),
            "region": (model.region,),
            "status": (model.status,),
        },
        default="published",
        default_order="desc",
        key=model.id,
    )


def listing_header(lang: Lang) -> list[str]:
    keys = (
        "title",
        "organisation",
        "category",
        "quantity",
        "unit_column",
        "region",
        "status",
        "published_at",
    )
    return [*(t(key, lang) for key in keys), "id"]


def listing_cells(row: BookListing, names: Mapping[str, str], lang: Lang) -> list[object]:
    return [
        row.title,
        names.get(row.organisation_id, row.organisation_id),
        category_label(row.category, lang),
        format(row.quantity.normalize(), "f"),
        unit_label(row.unit, lang),
        row.region,
        t(row.status, lang),
        local_time(row.published_at, lang),
        row.id,
    ]


def match_query(search: MatchSearch) -> Select[Any]:
    query = select(Match)
    if search.status in set(MatchStatus):
        query = query.where(Match.status == MatchStatus(search.status))
    if code := _region(search.region):
        query = query.where(in_region(Match.region, code))
    return query


MATCH_SORTS = Sorts(
    {
        "updated": (Match.updated_at,),
        "proposed": (Match.proposed_at,),
        "quantity": (Match.base_quantity,),
        "score": (Match.score,),
        "status": (Match.status,),
    },
    default="updated",
    default_order="desc",
    key=Match.id,
)


def match_sorts() -> Sorts:
    return MATCH_SORTS


def match_titles(session: Session, rows: list[Match]) -> dict[str, str]:
    """The titles of these matches' needs and offers."""
    ids = {m.need_id for m in rows} | {m.offer_id for m in rows}
    titles: dict[str, str] = {}
    for model in (BookNeed, BookOffer):
        titles |= {
            id_: title
            for id_, title in session.execute(select(model.id, model.title).where(model.id.in_(ids)))
        }
    return titles


def match_cells(row: Match, titles: Mapping[str, str], names: Mapping[str, str], lang: Lang) -> list[object]:
    return [
        titles.get(row.need_id, ""),
        names.get(row.need_organisation_id, ""),
        titles.get(row.offer_id, ""),
        names.get(row.offer_organisation_id, ""),
        format(row.quantity.normalize(), "f"),
        unit_label(row.unit, lang),
        f"{row.score:.2f}",
        t(row.status.value, lang),
        local_time(row.updated_at, lang),
        row.id,
    ]


def meeting_query(search: MeetingSearch) -> Select[Any]:
    query = select(Meeting)
    return query.where(Meeting.status == search.status) if search.status else query


def meeting_sorts() -> Sorts:
    return Sorts(
        {"starts": (Meeting.starts_at,), "title": (Meeting.title,), "status": (Meeting.status,)},
        default="starts",
        default_order="desc",
        key=Meeting.id,
    )


def action_query(search: ActionSearch) -> Select[Any]:
    query = select(ActionItem)
    if search.status:
        query = query.where(ActionItem.status == search.status)
    if search.owner:
        query = query.where(ActionItem.owner_organisation_id == search.owner)
    if search.meeting_id:
        query = query.where(ActionItem.meeting_id == search.meeting_id)
    return query


def action_sorts() -> Sorts:
    overdue_first = case((ActionItem.status == "overdue", 0), else_=1)
    return Sorts(
        {
            "urgency": (overdue_first, ActionItem.due_date),
            "due": (ActionItem.due_date,),
            "title": (ActionItem.title,),
            "status": (ActionItem.status,),
            "owner": (ActionItem.owner_organisation_id,),
        },
        default="urgency",
        default_order="asc",
        key=ActionItem.id,
    )


def project_query(search: ProjectSearch) -> Select[Any]:
    query = select(Project)
    if search.status:
        query = query.where(Project.status == search.status)
    if code := _region(search.region):
        query = query.where(in_region(Project.region, code))
    return query


def project_sorts() -> Sorts:
    return Sorts(
        {
            "created": (Project.created_at,),
            "title": (Project.title,),
            "status": (Project.status,),
            "next_due": (Project.next_due,),
            "region": (Project.region,),
        },
        default="created",
        default_order="desc",
        key=Project.id,
    )


def dispute_query(search: DisputeSearch) -> Select[Any]:
    query = select(Dispute)
    if search.status:
        query = query.where(Dispute.status == search.status)
    if code := _region(search.region):
        query = query.where(in_region(Dispute.region, code))
    return query


def dispute_sorts() -> Sorts:
    return Sorts(
        {
            "raised": (Dispute.raised_at,),
            "title": (Dispute.title,),
            "status": (Dispute.status,),
            "deadline": (Dispute.next_check,),
        },
        default="raised",
        default_order="desc",
        key=Dispute.id,
    )


def fund_query(search: FundSearch) -> Select[Any]:
    query = select(LedgerFund)
    if code := _region(search.region):
        query = query.where(in_region(LedgerFund.region, code))
    return query


def fund_sorts() -> Sorts:
    return Sorts(
        {
            "year": (LedgerFund.fiscal_year,),
            "name": (LedgerFund.name,),
            "region": (LedgerFund.region,),
            "opened": (LedgerFund.opened_at,),
        },
        default="year",
        default_order="desc",
        key=LedgerFund.id,
    )
