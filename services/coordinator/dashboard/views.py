"""The dashboard's pages. Every page but the sign-in needs a signed-in coordinator; every form
carries the session's CSRF token; what a coordinator does is recorded with their name."""

import secrets
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from fastapi.templating import Jinja2Templates
from nats.js.api import ConsumerConfig, DeliverPolicy
from sqlalchemy import or_, select

from services.coordinator import meetings
from services.coordinator.dashboard.accounts import authenticate
from services.coordinator.dashboard.charts import bar_chart
from services.coordinator.dashboard.i18n import Lang, t
from services.coordinator.dashboard.stats import overview
from services.coordinator.exports import actions_csv, minutes_html, minutes_markdown
from services.coordinator.matchmaker import Cause, MatchPolicy, change_status, emit_match, resolve
from services.coordinator.models import (
    ActionItem,
    BookListing,
    BookNeed,
    BookOffer,
    CoordinatorAccount,
    Decision,
    EventLogEntry,
    Invitation,
    Match,
    Meeting,
    MeetingRecord,
    MeetingSeries,
    RegisteredOrganisation,
)
from services.coordinator.stream_views import sse_response
from shared.app import Runtime, RuntimeDep, UowDep
from shared.db import UnitOfWork, utcnow
from shared.errors import SifangError
from shared.events.envelope import new_event_id
from shared.events.filters import EventFilter
from shared.events.subjects import STAKEHOLDER_KINDS
from shared.regions import InvalidRegion, validate_region
from shared.taxonomy import CATEGORIES

__all__ = ["LoginRequired", "router"]

CHINA = timezone(timedelta(hours=8), "CST")  # the times coordinators type are China Standard Time

router = APIRouter(prefix="/dashboard", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["qty"] = lambda value: format(Decimal(value).normalize(), "f")


class LoginRequired(Exception):
    """Raised for a page that needs a signed-in coordinator; answered with a redirect."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


def _lang(request: Request) -> Lang:
    chosen = request.query_params.get("lang") or request.session.get("lang") or "zh"
    lang: Lang = "en" if chosen == "en" else "zh"
    request.session["lang"] = lang
    return lang


def _csrf(request: Request) -> str:
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(24)
    return str(request.session["csrf"])


def current_coordinator(request: Request, uow: UowDep) -> CoordinatorAccount:
    username = request.session.get("user")
    account = uow.session.get(CoordinatorAccount, username) if username else None
    if account is None or not account.active:
        raise LoginRequired(request.url.path)
    return account


User = Annotated[CoordinatorAccount, Depends(current_coordinator)]


def _check_csrf(request: Request, token: str) -> None:
    if not secrets.compare_digest(token, _csrf(request)):
        raise SifangError("the form expired: reload the page and try again", field="csrf")


def render(
    request: Request, name: str, user: CoordinatorAccount | None, nav: str, title: str, **context: Any
) -> HTMLResponse:
    lang = _lang(request)
    flash = request.session.pop("flash", None)
    return templates.TemplateResponse(
        request,
        name,
        {
            "lang": lang,
            "t": lambda key: t(key, lang),
            "user": user,
            "nav": nav,
            "page_title": title,
            "csrf": _csrf(request),
            "flash": flash[0] if flash else None,
            "flash_error": flash[1] if flash else False,
            **context,
        },
    )


def _back(request: Request, path: str, message: str | None = None, error: bool = False) -> RedirectResponse:
    if message:
        request.session["flash"] = (message, error)
    return RedirectResponse(path, status_code=303)


def _category(code: str, lang: Lang) -> str:
    category = CATEGORIES.get(code)
    return (category.zh if lang == "zh" else category.en) if category else code


def _names(uow: UnitOfWork) -> dict[str, str]:
    return dict(uow.session.execute(select(RegisteredOrganisation.id, RegisteredOrganisation.name)).all())


@router.get("/login")
def login_page(request: Request, next: str = "/dashboard") -> HTMLResponse:
    return render(request, "login.html", None, "", t("sign_in", _lang(request)), next=next)


@router.post("/login")
def login(
    request: Request,
    uow: UowDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/dashboard",
) -> Response:
    _check_csrf(request, csrf)
    account = authenticate(uow.session, username, password)
    if account is None:
        return _back(request, f"/dashboard/login?next={quote(next)}", t("wrong_login", _lang(request)), True)
    request.session["user"] = account.username
    return RedirectResponse(next if next.startswith("/dashboard") else "/dashboard", status_code=303)


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()]) -> Response:
    _check_csrf(request, csrf)
    request.session.pop("user", None)
    return RedirectResponse("/dashboard/login", status_code=303)


@router.get("")
def overview_page(request: Request, uow: UowDep, user: User) -> HTMLResponse:
    s = overview(uow.session)
    lang = _lang(request)
    charts = {
        "states": bar_chart([(t(k, lang), v) for k, v in s["by_state"]]),
        "kinds": bar_chart([(t(k, lang), v) for k, v in s["needs_by_kind"]]),
        "categories": bar_chart([(_category(code, lang), v) for code, v in s["by_category"]]),
        "villages": bar_chart(s["by_village"]),
    }
    return render(request, "overview.html", user, "overview", t("overview", lang), s=s, charts=charts)


@router.get("/stream")
async def stream(request: Request, runtime: RuntimeDep) -> StreamingResponse:
    """Live events for the pages (the signed-in session is the credential)."""
    with runtime.unit_of_work() as uow:
        current_coordinator(request, uow)
    new_only = ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
    return await sse_response(request, runtime, EventFilter(), new_only, named=False)


@router.get("/matches")
def matches_page(request: Request, uow: UowDep, user: User, status: str = "") -> HTMLResponse:
    query = select(Match).order_by(Match.updated_at.desc(), Match.id).limit(200)
    if status:
        query = query.where(Match.status == status)
    rows = list(uow.session.scalars(query))
    ids = {m.need_id for m in rows} | {m.offer_id for m in rows}
    titles = dict(uow.session.execute(select(BookNeed.id, BookNeed.title).where(BookNeed.id.in_(ids))).all())
    titles |= dict(
        uow.session.execute(select(BookOffer.id, BookOffer.title).where(BookOffer.id.in_(ids))).all()
    )
    return render(
        request,
        "matches.html",
        user,
        "matches",
        t("matches", _lang(request)),
        matches=rows,
        status=status,
        titles=titles,
        names=_names(uow),
    )


def _policy(runtime: Runtime) -> MatchPolicy:
    from services.coordinator.app import CoordinatorSettings

    assert isinstance(runtime.settings, CoordinatorSettings)
    return runtime.settings.match_policy


def _coordinator_cause(user: CoordinatorAccount) -> Cause:
    event_id = new_event_id()
    return Cause(event_id, event_id, utcnow())


@router.post("/matches/{match_id}/withdraw")
def withdraw_match(
    request: Request,
    match_id: str,
    uow: UowDep,
    user: User,
    reason: Annotated[str, Form()],
    csrf: Annotated[str, Form()],
    runtime: RuntimeDep,
) -> Response:
    _check_csrf(request, csrf)
    match = uow.session.get(Match, match_id)
    if match is None or match.status != "proposed":
        return _back(request, "/dashboard/matches", "—", True)
    policy = _policy(runtime)
    cause = _coordinator_cause(user)
    change_status(
        uow.session, match, "withdrawn", f"withdrawn by {user.display_name}: {reason}", policy, cause
    )
    resolve(uow.session, match.partition, policy, cause)
    uow.commit()
    return _back(request, "/dashboard/matches", f"{t('withdraw', _lang(request))} ✓")


@router.post("/matches/{match_id}/nudge")
def nudge_match(
    request: Request,
    match_id: str,
    uow: UowDep,
    user: User,
    csrf: Annotated[str, Form()],
    runtime: RuntimeDep,
) -> Response:
    """Remind both parties: the proposal's state is published again, naming who nudged."""
    _check_csrf(request, csrf)
    match = uow.session.get(Match, match_id)
    if match is None or match.status != "proposed":
        return _back(request, "/dashboard/matches", "—", True)
    match.reason = f"nudged by {user.display_name} at {utcnow():%Y-%m-%d %H:%M}"
    uow.session.flush()
    emit_match(uow.session, match, "proposed", _policy(runtime), _coordinator_cause(user))
    uow.commit()
    return _back(request, "/dashboard/matches", f"{t('nudge', _lang(request))} ✓")


def _listings(side: str) -> Any:
    model: type[BookListing] = BookNeed if side == "need" else BookOffer

    def page(
        request: Request,
        uow: UowDep,
        user: User,
        q: str = "",
        kind: str = "",
        category: str = "",
        region: str = "",
        status: str = "",
    ) -> HTMLResponse:
        query = select(model).order_by(model.published_at.desc()).limit(300)
        if q:
            query = query.where(or_(model.title.contains(q), model.description.contains(q)))
        if kind:
            query = query.where(model.kind == kind)
        if category:
            query = query.where(or_(model.category == category, model.category.startswith(category + ".")))
        if region:
            query = query.where(model.region.startswith(region.rstrip("0") or region))
        if status:
            query = query.where(model.status == status)
        return render(
            request,
            "listings.html",
            user,
            side + "s",
            t(side + "s", _lang(request)),
            side=side,
            rows=list(uow.session.scalars(query)),
            names=_names(uow),
            q=q,
            kind=kind,
            category=category,
            region=region,
            status=status,
        )

    def detail(request: Request, listing_id: str, uow: UowDep, user: User) -> HTMLResponse:
        row = uow.session.get(model, listing_id)
        if row is None:
            return render(
                request,
                "listings.html",
                user,
                side + "s",
                "—",
                side=side,
                rows=[],
                names={},
                q="",
                kind="",
                category="",
                region="",
                status="",
            )
        column = Match.need_id if side == "need" else Match.offer_id
        events = uow.session.scalars(
            select(EventLogEntry)
            .where(EventLogEntry.entity_id == listing_id)
            .order_by(EventLogEntry.stream_sequence)
        )
        return render(
            request,
            "listing.html",
            user,
            side + "s",
            row.title,
            row=row,
            names=_names(uow),
            matches=list(uow.session.scalars(select(Match).where(column == listing_id))),
            events=list(events),
        )

    router.add_api_route(f"/{side}s", page, methods=["GET"])
    router.add_api_route(f"/{side}s/{{listing_id}}", detail, methods=["GET"])


_listings("need")
_listings("offer")


@router.get("/meetings")
def meetings_page(request: Request, uow: UowDep, user: User) -> HTMLResponse:
    series = list(uow.session.scalars(select(MeetingSeries).order_by(MeetingSeries.created_at)))
    rows = list(uow.session.scalars(select(Meeting).order_by(Meeting.starts_at.desc()).limit(50)))
    organisations = uow.session.execute(
        select(RegisteredOrganisation.id, RegisteredOrganisation.name, RegisteredOrganisation.kind).order_by(
            RegisteredOrganisation.kind, RegisteredOrganisation.name
        )
    ).all()
    return render(
        request,
        "meetings.html",
        user,
        "meetings",
        t("meetings", _lang(request)),
        organisations=organisations,
        series=series,
        meetings=rows,
        series_names={s.id: s.name for s in series},
    )


@router.post("/series")
async def create_series(request: Request, uow: UowDep, user: User) -> Response:
    form = await request.form()
    _check_csrf(request, str(form.get("csrf", "")))
    try:
        meetings.create_series(
            uow.session,
            name=str(form.get("name", "")).strip() or "—",
            kind=str(form.get("kind", "joint")),
            region=validate_region(str(form.get("region", ""))),
            cadence=str(form.get("cadence") or ""),
            duration_minutes=120,
            invited=[str(v) for v in form.getlist("invited")],
            quorum_kinds=list(STAKEHOLDER_KINDS),
            now=utcnow(),
        )
        uow.commit()
    except (SifangError, InvalidRegion) as exc:
        return _back(request, "/dashboard/meetings", getattr(exc, "message", str(exc)), True)
    return _back(request, "/dashboard/meetings", "✓")


@router.post("/series/{series_id}/meetings")
def schedule(
    request: Request,
    series_id: str,
    uow: UowDep,
    user: User,
    csrf: Annotated[str, Form()],
    title: Annotated[str, Form()],
    starts_at: Annotated[str, Form()],
    location: Annotated[str, Form()] = "",
) -> Response:
    _check_csrf(request, csrf)
    series = uow.session.get(MeetingSeries, series_id)
    try:
        when = datetime.fromisoformat(starts_at).replace(tzinfo=CHINA)
        if series is None:
            raise SifangError("no such series", field="series_id")
        meeting = meetings.schedule_meeting(
            uow.session,
            series,
            title=title,
            starts_at=when,
            duration_minutes=None,
            location=location,
            cutoff_hours=48,
            now=utcnow(),
        )
        uow.commit()
    except (SifangError, ValueError) as exc:
        return _back(request, "/dashboard/meetings", getattr(exc, "message", str(exc)), True)
    return _back(request, f"/dashboard/meetings/{meeting.id}", "✓")


@router.get("/meetings/{meeting_id}")
def meeting_page(request: Request, meeting_id: str, uow: UowDep, user: User) -> HTMLResponse:
    meeting, series = meetings.get_meeting(uow.session, meeting_id)
    record = uow.session.scalar(
        select(MeetingRecord).where(MeetingRecord.meeting_id == meeting_id, MeetingRecord.kind == "minutes")
    )
    decisions = list(
        uow.session.scalars(
            select(Decision).where(Decision.meeting_id == meeting_id).order_by(Decision.recorded_at)
        )
    )
    invitations = list(
        uow.session.scalars(
            select(Invitation).where(Invitation.meeting_id == meeting_id).order_by(Invitation.organisation_id)
        )
    )
    return render(
        request,
        "meeting.html",
        user,
        "meetings",
        meeting.title,
        meeting=meeting,
        series=series,
        agenda=meetings.latest_agenda(uow.session, meeting_id),
        invitations=invitations,
        quorum=meetings.quorum(uow.session, meeting_id),
        decisions=decisions,
        decided={d.item_key for d in decisions},
        record=record,
        names=_names(uow),
        chain=meetings.verify_chain(uow.session, series.id),
    )


def _meeting_action(request: Request, uow: UnitOfWork, meeting_id: str, csrf: str, action: Any) -> Response:
    _check_csrf(request, csrf)
    try:
        action()
        uow.commit()
    except SifangError as exc:
        return _back(request, f"/dashboard/meetings/{meeting_id}", exc.message, True)
    return _back(request, f"/dashboard/meetings/{meeting_id}", "✓")


@router.post("/meetings/{meeting_id}/agenda/compile")
def compile_agenda(
    request: Request, meeting_id: str, uow: UowDep, user: User, csrf: Annotated[str, Form()]
) -> Response:
    return _meeting_action(
        request,
        uow,
        meeting_id,
        csrf,
        lambda: meetings.compile_meeting_agenda(
            uow.session, meeting_id, as_of=utcnow(), made_by=user.display_name
        ),
    )


@router.post("/meetings/{meeting_id}/agenda")
async def edit_agenda(request: Request, meeting_id: str, uow: UowDep, user: User) -> Response:
    form = await request.form()
    keys, titles, minutes = form.getlist("key"), form.getlist("title"), form.getlist("minutes")
    items: list[dict[str, Any]] = [
        {"key": k, "title": ti, "minutes": int(str(m) or 10)}
        for k, ti, m in zip(keys, titles, minutes, strict=True)
    ]
    move = str(form.get("move") or "")
    if move:
        verb, _, index = move.partition(":")
        k = int(index)
        if verb == "drop":
            items.pop(k)
        elif verb == "up" and k > 0:
            items[k - 1], items[k] = items[k], items[k - 1]
        elif verb == "down" and k < len(items) - 1:
            items[k + 1], items[k] = items[k], items[k + 1]
    if str(form.get("new_title") or "").strip():
        items.append(
            {"title": str(form["new_title"]).strip(), "minutes": int(str(form.get("new_minutes") or 10))}
        )
    return _meeting_action(
        request,
        uow,
        meeting_id,
        str(form.get("csrf", "")),
        lambda: meetings.edit_agenda(
            uow.session,
            meeting_id,
            items,
            note=f"edited by {user.display_name}",
            made_by=user.display_name,
            now=utcnow(),
        ),
    )


@router.post("/meetings/{meeting_id}/agenda/publish")
def publish_agenda(
    request: Request, meeting_id: str, uow: UowDep, user: User, csrf: Annotated[str, Form()]
) -> Response:
    return _meeting_action(
        request, uow, meeting_id, csrf, lambda: meetings.publish_agenda(uow.session, meeting_id, now=utcnow())
    )


@router.post("/meetings/{meeting_id}/attendance")
async def attendance(request: Request, meeting_id: str, uow: UowDep, user: User) -> Response:
    form = await request.form()
    present = set(map(str, form.getlist("present")))

    def record() -> None:
        for invitation in uow.session.scalars(select(Invitation).where(Invitation.meeting_id == meeting_id)):
            meetings.record_attendance(
                uow.session,
                meeting_id,
                invitation.organisation_id,
                present=invitation.organisation_id in present,
                representative=invitation.representative,
            )

    return _meeting_action(request, uow, meeting_id, str(form.get("csrf", "")), record)


@router.post("/meetings/{meeting_id}/decisions")
async def decide(request: Request, meeting_id: str, uow: UowDep, user: User) -> Response:
    form = await request.form()
    positions = [
        {"organisation_id": key.split(":", 1)[1], "position": str(value), "reason": ""}
        for key, value in form.multi_items()
        if key.startswith("position:") and value
    ]
    actions = []
    if str(form.get("action_title") or "").strip() and form.get("action_owner") and form.get("action_due"):
        actions.append(
            {
                "owner_organisation_id": str(form["action_owner"]),
                "title": str(form["action_title"]),
                "due_date": date.fromisoformat(str(form["action_due"])),
                "links": [],
            }
        )
    return _meeting_action(
        request,
        uow,
        meeting_id,
        str(form.get("csrf", "")),
        lambda: meetings.record_decision(
            uow.session,
            meeting_id,
            item_key=str(form.get("item_key")),
            outcome=str(form.get("outcome")),
            positions=positions,
            minutes=str(form.get("minutes") or ""),
            actions=actions,
            recorded_by=user.display_name,
            now=utcnow(),
        ),
    )


@router.post("/meetings/{meeting_id}/close")
def close(
    request: Request,
    meeting_id: str,
    uow: UowDep,
    user: User,
    csrf: Annotated[str, Form()],
    minutes: Annotated[str, Form()] = "",
) -> Response:
    return _meeting_action(
        request,
        uow,
        meeting_id,
        csrf,
        lambda: meetings.close_meeting(uow.session, meeting_id, minutes=minutes, now=utcnow()),
    )


def _record_content(uow: UnitOfWork, meeting_id: str) -> tuple[MeetingRecord, list[dict[str, Any]]]:
    rows = list(
        uow.session.scalars(
            select(MeetingRecord)
            .where(MeetingRecord.meeting_id == meeting_id)
            .order_by(MeetingRecord.sequence)
        )
    )
    return rows[0], [r.content for r in rows[1:]]


@router.get("/meetings/{meeting_id}/minutes.html")
def minutes_page(
    request: Request, meeting_id: str, uow: UowDep, user: User, lang: Lang = "zh"
) -> HTMLResponse:
    record, amendments = _record_content(uow, meeting_id)
    return HTMLResponse(minutes_html(record.content, record.record_hash, _names(uow), lang, amendments))


@router.get("/meetings/{meeting_id}/minutes.md")
def minutes_md(request: Request, meeting_id: str, uow: UowDep, user: User, lang: Lang = "zh") -> Response:
    record, amendments = _record_content(uow, meeting_id)
    return Response(
        minutes_markdown(record.content, record.record_hash, _names(uow), lang, amendments),
        media_type="text/markdown; charset=utf-8",
    )


@router.get("/actions")
def actions_page(
    request: Request, uow: UowDep, user: User, status: str = "", owner: str = ""
) -> HTMLResponse:
    query = select(ActionItem)
    if status:
        query = query.where(ActionItem.status == status)
    if owner:
        query = query.where(ActionItem.owner_organisation_id == owner)
    rows = sorted(uow.session.scalars(query), key=lambda a: (a.status != "overdue", a.due_date, a.id))
    names = _names(uow)
    owners = sorted(
        {
            (a.owner_organisation_id, names.get(a.owner_organisation_id, ""))
            for a in uow.session.scalars(select(ActionItem))
        },
        key=lambda o: o[1],
    )
    return render(
        request,
        "actions.html",
        user,
        "actions",
        t("actions", _lang(request)),
        actions=rows,
        names=names,
        owners=owners,
        status=status,
        owner=owner,
    )


@router.get("/actions.csv")
def actions_export(
    request: Request, uow: UowDep, user: User, lang: Lang = "zh", meeting_id: str = ""
) -> Response:
    query = select(ActionItem).order_by(ActionItem.due_date)
    if meeting_id:
        query = query.where(ActionItem.meeting_id == meeting_id)
    return Response(
        actions_csv(uow.session.scalars(query), _names(uow), lang), media_type="text/csv; charset=utf-8"
    )
