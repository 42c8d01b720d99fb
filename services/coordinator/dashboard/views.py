"""The dashboard's pages. Every page but the sign-in needs a signed-in coordinator; every form
carries the session's CSRF token; what a coordinator does is recorded with their name.

Sessions live in the database (``sessions.py``); sign-ins are throttled per account and per
client address (``accounts.py``). No page has inline script: ``static/dashboard.js`` does the
live updates, building DOM nodes with ``textContent`` only."""

import asyncio
import base64
import hashlib
import math
import re
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, StreamingResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from services.coordinator.access.models import CoordinatorAccount
from services.coordinator.bus import CommandBody
from services.coordinator.dashboard import auth, county, feed, lists, queries, sessions
from services.coordinator.dashboard.accounts import ThrottlePolicy
from services.coordinator.dashboard.charts import bar_chart, paired_columns
from services.coordinator.dashboard.i18n import Lang, amount, category_label, t, unit_label
from services.coordinator.dashboard.paging import Paging, Sorts, batches, page_of, paging
from services.coordinator.dashboard.province import read_province
from services.coordinator.dashboard.stats import overview
from services.coordinator.funds import queries as fund_queries
from services.coordinator.funds.models import LedgerShare
from services.coordinator.funds.schemas import FundRead, UtilisationRow
from services.coordinator.instructions import carry_out
from services.coordinator.integrations.stream_views import sse_response, start_position
from services.coordinator.journal import queries as journal_queries
from services.coordinator.market import queries as market_queries
from services.coordinator.market.models import MarketCell
from services.coordinator.market.queries import MarketFilter
from services.coordinator.market.service import cell_details, key_of
from services.coordinator.matches.commands import NudgeMatch, WithdrawMatch
from services.coordinator.mediation.commands import AssignMediator
from services.coordinator.mediation.service import dispute_data, get_dispute
from services.coordinator.meetings import queries as meeting_queries
from services.coordinator.meetings.commands import (
    AgendaEdit,
    Attendance,
    AttendanceList,
    Closing,
    CompileAgenda,
    DecisionCreate,
    MeetingCreate,
    PublishAgenda,
    SeriesCreate,
)
from services.coordinator.meetings.exports import minutes_html, minutes_markdown
from services.coordinator.meetings.localtime import local_time, zone_name, zone_of
from services.coordinator.meetings.models import ActionItem, MeetingSeries
from services.coordinator.projects.service import get_project, project_data
from services.coordinator.registry import queries as registry_queries
from services.coordinator.registry.queries import organisation_names
from services.coordinator.settings import CoordinatorSettings, settings_of
from shared.app import Runtime, RuntimeDep, UowDep
from shared.csv_export import csv_line
from shared.db import UnitOfWork
from shared.errors import NotFound, NotYetApplied, SifangError
from shared.events.filters import EventFilter
from shared.reasons import agenda_reason, agenda_rule, language, render_explanation, render_reason

__all__ = ["LoginRequired", "router", "session_policy", "throttle_policy"]

CHINA = zone_of()  # the times coordinators type are the platform's own (Beijing time)

router = APIRouter(prefix="/dashboard", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["qty"] = lambda value: format(Decimal(value).normalize(), "f")
templates.env.globals["explained"] = lambda explanation, lang: render_explanation(explanation, language(lang))
templates.env.globals["reason_text"] = lambda reason, lang: render_reason(reason, language(lang))
templates.env.globals["agenda_reason"] = lambda item, lang: agenda_reason(item, language(lang))
templates.env.globals["agenda_rule"] = lambda item, lang: agenda_rule(item, language(lang))
STATIC = Path(__file__).parent / "static"
STATIC_FILES = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}


def session_policy(settings: CoordinatorSettings) -> sessions.SessionPolicy:
    """The dashboard's session lifetimes from the coordinator's settings."""
    return sessions.SessionPolicy(
        lifetime=timedelta(hours=settings.dashboard_session_hours),
        idle=timedelta(minutes=settings.dashboard_idle_minutes),
        production=settings.mode == "production",
    )


def throttle_policy(settings: CoordinatorSettings) -> ThrottlePolicy:
    return ThrottlePolicy(
        max_failures=settings.login_max_failures,
        max_failures_per_address=settings.login_max_failures_per_address,
        window=timedelta(minutes=settings.login_window_minutes),
    )


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
    account = auth.signed_in_account(uow, request)
    if account is None:
        raise LoginRequired(request.url.path)
    return account


User = Annotated[CoordinatorAccount, Depends(current_coordinator)]
PagingDep = Annotated[Paging, Depends(paging)]


def _check_csrf(request: Request, token: str) -> None:
    if not secrets.compare_digest(token, _csrf(request)):
        raise SifangError("the form expired: reload the page and try again", field="csrf")


def render(
    request: Request, name: str, user: CoordinatorAccount | None, nav: str, title: str, **context: Any
) -> HTMLResponse:
    lang = _lang(request)
    flash = request.session.pop("flash", None)
    other = request.url.include_query_params(lang="en" if lang == "zh" else "zh")  # filters kept
    return templates.TemplateResponse(
        request,
        name,
        {
            "lang": lang,
            "t": lambda key: t(key, lang),
            "local": lambda when, fmt="%Y-%m-%d %H:%M", named=True: local_time(
                when, lang, "", fmt, named=named
            ),
            "zone": zone_name("", lang),
            "switch_language": f"{other.path}?{other.query}",
            "unit": lambda code: unit_label(code, lang),
            "amount": lambda quantity, code: amount(quantity, code, lang),
            "category_name": lambda code: category_label(code, lang),
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
    return category_label(code, lang)


def _names(uow: UnitOfWork) -> dict[str, str]:
    return organisation_names(uow.session)


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    """The dashboard's script and style sheet (the CSP allows no inline script)."""
    if name not in STATIC_FILES:
        return Response(status_code=404)
    return FileResponse(
        STATIC / name, media_type=STATIC_FILES[name], headers={"cache-control": "public, max-age=300"}
    )


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
    runtime: RuntimeDep,
    next: Annotated[str, Form()] = "/dashboard",
) -> Response:
    _check_csrf(request, csrf)
    lang = _lang(request)
    back = f"/dashboard/login?next={quote(next)}"
    settings = settings_of(runtime)
    result = auth.sign_in(
        uow, request, username, password, throttle_policy(settings), session_policy(settings)
    )
    if result.locked_until is not None:
        until = result.locked_until.astimezone(CHINA)
        minutes = max(1, math.ceil((result.locked_until - datetime.now(UTC)).total_seconds() / 60))
        message = t("login_locked", lang).format(time=until.strftime("%H:%M"), minutes=minutes)
        return _back(request, back, message, True)
    if result.account is None:
        return _back(request, back, t("wrong_login", lang), True)
    local = next.startswith("/dashboard") and "\\" not in next
    return RedirectResponse(next if local else "/dashboard", status_code=303)


@router.post("/logout")
def logout(request: Request, uow: UowDep, csrf: Annotated[str, Form()]) -> Response:
    _check_csrf(request, csrf)
    auth.sign_out(uow, request)
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
    lines = feed.latest_lines(uow.session, lang)
    return render(
        request, "overview.html", user, "overview", t("overview", lang), s=s, charts=charts, lines=lines
    )


@router.get("/stream")
async def stream(request: Request, runtime: RuntimeDep) -> StreamingResponse:
    """Live events for the pages (the signed-in session is the credential), each followed by its
    line for the feed in the page's language (an event named ``feed``)."""
    with runtime.unit_of_work() as uow:
        current_coordinator(request, uow)
    lang = _lang(request)
    new_only = await asyncio.to_thread(start_position, runtime.session_factory)
    response = sse_response(request, runtime, EventFilter(), new_only, named=False)
    response.body_iterator = feed.narrated(response.body_iterator, runtime.session_factory, lang)
    session_id = sessions.current_handle(request).session_id
    idle = session_policy(settings_of(runtime)).idle
    if session_id is not None:  # the stream ends once the session is revoked (signed out elsewhere)
        response.body_iterator = sessions.until_revoked(
            response.body_iterator,
            lambda: sessions.still_valid(runtime.session_factory, session_id, idle),
        )
    return response


def match_search(
    status: Annotated[str, Query(max_length=20)] = "",
    region: Annotated[str, Query(max_length=12)] = "",
) -> lists.MatchSearch:
    """The matches' filters from the query string (a FastAPI dependency)."""
    return lists.MatchSearch(status=status, region=region)


MatchSearchDep = Annotated[lists.MatchSearch, Depends(match_search)]


@router.get("/matches")
def matches_page(
    request: Request,
    uow: UowDep,
    user: User,
    asked: PagingDep,
    search: MatchSearchDep,
) -> HTMLResponse:
    rows = page_of(
        uow.session,
        lists.match_query(search),
        lists.match_sorts(),
        asked,
        "/dashboard/matches",
        search.as_filters(),
    )
    return render(
        request,
        "matches.html",
        user,
        "matches",
        t("matches", _lang(request)),
        p=rows,
        matches=rows.rows,
        titles=lists.match_titles(uow.session, rows.rows),
        names=_names(uow),
        **search.as_filters(),
    )


@router.get("/matches.csv")
def matches_export(
    request: Request,
    user: User,
    runtime: RuntimeDep,
    asked: PagingDep,
    search: MatchSearchDep,
) -> StreamingResponse:
    lang = _lang(request)
    header = [
        t(key, lang)
        for key in ("need", "organisation", "offer", "organisation", "quantity", "unit_column", "score")
    ] + [t("status", lang), t("updated_at", lang), "id"]

    def cells(session: Session, batch: list[Any]) -> Iterable[Sequence[object]]:
        names, titles = organisation_names(session), lists.match_titles(session, batch)
        return [lists.match_cells(row, titles, names, lang) for row in batch]

    query = lists.match_query(search)
    return _csv(runtime, "matches", header, query, lists.match_sorts(), asked, cells)


async def _match_instruction(
    request: Request,
    uow: UnitOfWork,
    runtime: Runtime,
    match_id: str,
    command: CommandBody,
    user: CoordinatorAccount,
    label: str,
) -> Response:
    """Put the coordinator's instruction through the same handler as every other command: a
    refusal (not a proposal any more, no such match) is shown; so is a queued instruction."""
    try:
        await run_in_threadpool(
            carry_out, uow, runtime, command, target=match_id, coordinator=user.display_name
        )
    except NotYetApplied:
        return _back(request, "/dashboard/matches", f"{label}: {t('queued', _lang(request))}")
    except (SifangError, ValueError) as exc:
        return _back(request, "/dashboard/matches", f"{label}: {_problem(exc)}", True)
    return _back(request, "/dashboard/matches", f"{label} ✓")


@router.post("/matches/{match_id}/withdraw")
async def withdraw_match(
    request: Request,
    match_id: str,
    uow: UowDep,
    user: User,
    reason: Annotated[str, Form(max_length=1000)],
    csrf: Annotated[str, Form()],
    runtime: RuntimeDep,
) -> Response:
    _check_csrf(request, csrf)
    label = t("withdraw", _lang(request))
    return await _match_instruction(
        request, uow, runtime, match_id, WithdrawMatch(reason=reason), user, label
    )


@router.post("/matches/{match_id}/nudge")
async def nudge_match(
    request: Request,
    match_id: str,
    uow: UowDep,
    user: User,
    csrf: Annotated[str, Form()],
    runtime: RuntimeDep,
) -> Response:
    """Remind both parties: the proposal's state is published again, naming who nudged."""
    _check_csrf(request, csrf)
    label = t("nudge", _lang(request))
    return await _match_instruction(request, uow, runtime, match_id, NudgeMatch(), user, label)


def _csv(
    runtime: Runtime,
    name: str,
    header: list[str],
    query: Any,
    sorts: Sorts,
    asked: Paging,
    cells: Callable[[Session, list[Any]], Iterable[Sequence[object]]],
) -> StreamingResponse:
    """Every row of ``query`` as CSV, streamed batch by batch in the list's order, read through
    a session of its own (the request's is gone once streaming starts)."""

    def lines() -> Iterator[str]:
        yield csv_line(header)
        with runtime.session_factory() as session:
            for batch in batches(session, query, sorts, asked):
                for row in cells(session, batch):
                    yield csv_line(row)

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}.csv"'},
    )


def listing_search(
    q: Annotated[str, Query(max_length=200)] = "",
    kind: Annotated[str, Query(max_length=20)] = "",
    category: Annotated[str, Query(max_length=100)] = "",
    region: Annotated[str, Query(max_length=12)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
) -> lists.ListingSearch:
    """The needs' and offers' filters from the query string (a FastAPI dependency)."""
    return lists.ListingSearch(q=q, kind=kind, category=category, region=region, status=status)


Search = Annotated[lists.ListingSearch, Depends(listing_search)]


def _listings(side: queries.Side) -> Any:
    def page(
        request: Request,
        uow: UowDep,
        user: User,
        asked: PagingDep,
        search: Search,
    ) -> HTMLResponse:
        rows = page_of(
            uow.session,
            lists.listing_query(side, search),
            lists.listing_sorts(side),
            asked,
            f"/dashboard/{side}s",
            search.as_filters(),
        )
        return render(
            request,
            "listings.html",
            user,
            side + "s",
            t(side + "s", _lang(request)),
            side=side,
            p=rows,
            rows=rows.rows,
            names=_names(uow),
            **search.as_filters(),
        )

    def export(
        request: Request,
        uow: UowDep,
        user: User,
        runtime: RuntimeDep,
        asked: PagingDep,
        search: Search,
    ) -> StreamingResponse:
        lang = _lang(request)

        def cells(session: Session, batch: list[Any]) -> Iterable[Sequence[object]]:
            names = organisation_names(session)
            return [lists.listing_cells(row, names, lang) for row in batch]

        query, sorts = lists.listing_query(side, search), lists.listing_sorts(side)
        return _csv(runtime, f"{side}s", lists.listing_header(lang), query, sorts, asked, cells)

    def detail(request: Request, listing_id: str, uow: UowDep, user: User) -> Response:
        found = queries.listing_detail(uow.session, side, listing_id, _lang(request))
        if found is None:
            raise NotFound(f"no {side} {listing_id!r}", field=f"{side}_id")
        return render(
            request,
            "listing.html",
            user,
            side + "s",
            found.row.title,
            row=found.row,
            names=_names(uow),
            matches=found.matches,
            history=feed.feed_lines(
                uow.session, map(feed.Happening.of_entry, found.events), _lang(request), "%Y-%m-%d %H:%M"
            ),
            diagnosis=found.diagnosis,
        )

    router.add_api_route(f"/{side}s", page, methods=["GET"])
    router.add_api_route(f"/{side}s.csv", export, methods=["GET"])
    router.add_api_route(f"/{side}s/{{listing_id}}", detail, methods=["GET"])


_listings("need")
_listings("offer")


def meeting_search(status: Annotated[str, Query(max_length=20)] = "") -> lists.MeetingSearch:
    """The meetings' filter from the query string (a FastAPI dependency)."""
    return lists.MeetingSearch(status=status)


MeetingSearchDep = Annotated[lists.MeetingSearch, Depends(meeting_search)]


@router.get("/meetings")
def meetings_page(
    request: Request,
    uow: UowDep,
    user: User,
    asked: PagingDep,
    search: MeetingSearchDep,
) -> HTMLResponse:
    page = queries.meetings_page(uow.session)
    rows = page_of(
        uow.session,
        lists.meeting_query(search),
        lists.meeting_sorts(),
        asked,
        "/dashboard/meetings",
        search.as_filters(),
    )
    return render(
        request,
        "meetings.html",
        user,
        "meetings",
        t("meetings", _lang(request)),
        organisations=page.organisations,
        series=page.series,
        p=rows,
        meetings=rows.rows,
        series_names={s.id: s.name for s in page.series},
        **search.as_filters(),
    )


@router.get("/meetings.csv")
def meetings_export(
    request: Request,
    user: User,
    runtime: RuntimeDep,
    asked: PagingDep,
    search: MeetingSearchDep,
) -> StreamingResponse:
    lang = _lang(request)
    header = [t(key, lang) for key in ("title", "series", "starts", "location", "status")] + ["id"]

    def cells(session: Session, batch: list[Any]) -> Iterable[Sequence[object]]:
        series = dict(session.execute(select(MeetingSeries.id, MeetingSeries.name)).all())
        return [
            [
                m.title,
                series.get(m.series_id, ""),
                local_time(m.starts_at, lang),
                m.location,
                t(m.status, lang),
                m.id,
            ]
            for m in batch
        ]

    return _csv(runtime, "meetings", header, lists.meeting_query(search), lists.meeting_sorts(), asked, cells)


@router.post("/series")
async def create_series(request: Request, uow: UowDep, user: User, runtime: RuntimeDep) -> Response:
    form = await request.form()
    _check_csrf(request, str(form.get("csrf", "")))
    try:
        command = SeriesCreate(
            name=str(form.get("name", "")).strip() or "—",
            kind=str(form.get("kind", "joint")),
            region=str(form.get("region", "")),
            cadence=str(form.get("cadence") or ""),
            invited=[str(v) for v in form.getlist("invited")],
        )
        await run_in_threadpool(carry_out, uow, runtime, command, coordinator=user.display_name)
    except (SifangError, ValidationError) as exc:
        return _back(request, "/dashboard/meetings", _problem(exc), True)
    return _back(request, "/dashboard/meetings", "✓")


@router.post("/series/{series_id}/meetings")
async def schedule(
    request: Request,
    series_id: str,
    uow: UowDep,
    user: User,
    csrf: Annotated[str, Form()],
    title: Annotated[str, Form()],
    starts_at: Annotated[str, Form()],
    runtime: RuntimeDep,
    location: Annotated[str, Form()] = "",
) -> Response:
    _check_csrf(request, csrf)
    try:
        when = datetime.fromisoformat(starts_at).replace(tzinfo=CHINA)
        command = MeetingCreate(title=title, starts_at=when, location=location)
        meeting_id = await run_in_threadpool(
            carry_out,
            uow,
            runtime,
            command,
            target=series_id,
            coordinator=user.display_name,
        )
    except (SifangError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        return _back(request, "/dashboard/meetings", _problem(exc), True)
    return _back(request, f"/dashboard/meetings/{meeting_id}", "✓")


@router.get("/meetings/{meeting_id}")
def meeting_page(request: Request, meeting_id: str, uow: UowDep, user: User) -> HTMLResponse:
    page = queries.meeting_page(uow.session, meeting_id)
    return render(
        request,
        "meeting.html",
        user,
        "meetings",
        page.meeting.title,
        meeting=page.meeting,
        series=page.series,
        agenda=page.agenda,
        invitations=page.invitations,
        quorum=page.quorum,
        decisions=page.decisions,
        decided={d.item_key for d in page.decisions},
        record=page.minutes,
        names=_names(uow),
        chain=page.chain,
    )


def _problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return getattr(exc, "message", str(exc))


async def _meeting_action(
    request: Request,
    uow: UnitOfWork,
    runtime: Runtime,
    meeting_id: str,
    csrf: str,
    user: CoordinatorAccount,
    command: Callable[[], CommandBody],
) -> Response:
    """One step of a meeting from a form: through the stream, with the refusal shown if any."""
    _check_csrf(request, csrf)
    try:
        await run_in_threadpool(  # it waits for the consumer, which runs on this event loop
            carry_out, uow, runtime, command(), target=meeting_id, coordinator=user.display_name
        )
    except (SifangError, ValueError) as exc:
        return _back(request, f"/dashboard/meetings/{meeting_id}", _problem(exc), True)
    return _back(request, f"/dashboard/meetings/{meeting_id}", "✓")


@router.post("/meetings/{meeting_id}/agenda/compile")
async def compile_agenda(
    request: Request,
    meeting_id: str,
    uow: UowDep,
    user: User,
    csrf: Annotated[str, Form()],
    runtime: RuntimeDep,
) -> Response:
    return await _meeting_action(request, uow, runtime, meeting_id, csrf, user, CompileAgenda)


@router.post("/meetings/{meeting_id}/agenda")
async def edit_agenda(
    request: Request, meeting_id: str, uow: UowDep, user: User, runtime: RuntimeDep
) -> Response:
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
    return await _meeting_action(
        request,
        uow,
        runtime,
        meeting_id,
        str(form.get("csrf", "")),
        user,
        lambda: AgendaEdit.model_validate({"items": items, "note": f"edited by {user.display_name}"}),
    )


@router.post("/meetings/{meeting_id}/agenda/publish")
async def publish_agenda(
    request: Request,
    meeting_id: str,
    uow: UowDep,
    user: User,
    csrf: Annotated[str, Form()],
    runtime: RuntimeDep,
) -> Response:
    return await _meeting_action(request, uow, runtime, meeting_id, csrf, user, PublishAgenda)


@router.post("/meetings/{meeting_id}/attendance")
async def attendance(
    request: Request, meeting_id: str, uow: UowDep, user: User, runtime: RuntimeDep
) -> Response:
    form = await request.form()
    present = set(map(str, form.getlist("present")))
    entries = [
        Attendance(
            organisation_id=invitation.organisation_id,
            present=invitation.organisation_id in present,
            representative=invitation.representative,
        )
        for invitation in queries.invitations(uow.session, meeting_id)
    ]
    return await _meeting_action(
        request,
        uow,
        runtime,
        meeting_id,
        str(form.get("csrf", "")),
        user,
        lambda: AttendanceList(entries=entries),
    )


def _decided_project(uow: UnitOfWork, meeting_id: str, form: Any) -> list[dict[str, Any]]:
    """The cross-sector project the decision form starts, if it names one: the members ticked
    (the first leads), each with its role, and a first milestone."""
    title = str(form.get("project_title") or "").strip()
    if not title:
        return []
    _, series = meeting_queries.meeting_and_series(uow.session, meeting_id)
    members = [
        {"organisation_id": str(org), "role": str(form.get(f"project_role:{org}") or "").strip() or "成员"}
        for org in form.getlist("project_member")
    ]
    milestone = str(form.get("project_milestone") or "").strip() or title
    return [
        {
            "title": title,
            "region": series.region,
            "members": members,
            "milestones": [
                {"milestone_id": "m1", "title": milestone, "due_date": str(form.get("project_due") or "")}
            ],
        }
    ]


@router.post("/meetings/{meeting_id}/decisions")
async def decide(request: Request, meeting_id: str, uow: UowDep, user: User, runtime: RuntimeDep) -> Response:
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
                "due_date": str(form["action_due"]),
                "links": [],
            }
        )
    decision = {
        "item_key": str(form.get("item_key")),
        "outcome": str(form.get("outcome")),
        "positions": positions,
        "minutes": str(form.get("minutes") or ""),
        "actions": actions,
        "projects": _decided_project(uow, meeting_id, form),
    }
    return await _meeting_action(
        request,
        uow,
        runtime,
        meeting_id,
        str(form.get("csrf", "")),
        user,
        lambda: DecisionCreate.model_validate(decision),
    )


@router.post("/meetings/{meeting_id}/close")
async def close(
    request: Request,
    meeting_id: str,
    uow: UowDep,
    user: User,
    csrf: Annotated[str, Form()],
    runtime: RuntimeDep,
    minutes: Annotated[str, Form()] = "",
) -> Response:
    return await _meeting_action(
        request, uow, runtime, meeting_id, csrf, user, lambda: Closing(minutes=minutes)
    )


@router.get("/meetings/{meeting_id}/minutes.html")
def minutes_page(
    request: Request, meeting_id: str, uow: UowDep, user: User, lang: Lang = "zh"
) -> HTMLResponse:
    record, amendments = meeting_queries.minutes_with_amendments(uow.session, meeting_id)
    page = minutes_html(record.content, record.record_hash, _names(uow), lang, amendments)
    # The printable page carries its own <style>: allowed by its hash, and nothing else inline.
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(style.encode()).digest()).decode() + "'"
        for style in re.findall(r"<style>(.*?)</style>", page, flags=re.S)
    )
    csp = sessions.CSP.replace("style-src 'self'", f"style-src 'self' {hashes}".rstrip())
    return HTMLResponse(page, headers={"content-security-policy": csp})


@router.get("/meetings/{meeting_id}/minutes.md")
def minutes_md(request: Request, meeting_id: str, uow: UowDep, user: User, lang: Lang = "zh") -> Response:
    record, amendments = meeting_queries.minutes_with_amendments(uow.session, meeting_id)
    return Response(
        minutes_markdown(record.content, record.record_hash, _names(uow), lang, amendments),
        media_type="text/markdown; charset=utf-8",
    )


RegionCode = Annotated[str, Query(pattern="^([0-9]{6}|[0-9]{9}|[0-9]{12})?$")]


@router.get("/county")
def county_page(request: Request, uow: UowDep, user: User, region: RegionCode = "") -> HTMLResponse:
    """A county's townships and villages: open needs and offers, matches and fulfilment, with the
    chart of matches confirmed or fulfilled against those proposed, village by village."""
    lang = _lang(request)
    known = county.counties(uow.session)
    code = region[:6] or (known[0] if known else "")
    whole, townships = county.county_places(uow.session, code) if code else (None, [])
    villages = [v for township in townships for v in township.villages]
    chart = paired_columns(
        [(v.name, v.proposed, v.settled) for v in villages if v.matches],
        names=(t("proposed", lang), t("settled_matches", lang)),
    )
    needs_chart = bar_chart([(township.name, township.open_needs) for township in townships])
    return render(
        request,
        "county.html",
        user,
        "county_view",
        t("county_view", lang),
        county=code,
        counties=known,
        whole=whole,
        townships=townships,
        chart=chart,
        needs_chart=needs_chart,
    )


@router.get("/village")
def village_page(request: Request, uow: UowDep, user: User, region: RegionCode = "") -> Response:
    """One village: its organisations, open needs and offers, and matches."""
    if len(region) not in (9, 12):
        raise NotFound(f"no village {region!r}", field="region")
    page = county.village_page(uow.session, region)
    return render(
        request,
        "village.html",
        user,
        "county_view",
        page.name,
        village=page,
        names=_names(uow),
    )


@router.get("/province")
def province_page(request: Request, uow: UowDep, user: User, runtime: RuntimeDep) -> HTMLResponse:
    """Every partition's counties and the open needs of the whole province, through the read
    router; this coordinator's own partition when none is configured."""
    settings = settings_of(runtime)
    own = journal_queries.partition(uow.session)
    view = read_province(settings.province_url, settings.province_token)
    lang = _lang(request)
    return render(
        request,
        "province.html",
        user,
        "province",
        t("province", lang),
        own=own,
        view=view,
        names=_names(uow),
        category=lambda code: _category(code, lang),
    )


MARKET_TRENDS = 8  # the families with most listings get a chart
MARKET_MONTHS = 12


@router.get("/market")
def market_page(
    request: Request,
    uow: UowDep,
    user: User,
    region: Annotated[str, Query(pattern="^[0-9]{0,12}$")] = "",
    category: Annotated[str, Query(max_length=100)] = "",
) -> HTMLResponse:
    """The county's market: the shortages and gluts of the last two months with their reasons,
    and demand against supply by month for the busiest category families."""
    lang = _lang(request)
    where = MarketFilter(region=region or None, family=category or None)
    cells = market_queries.market_cells(uow.session, where, limit=5000, offset=0)
    recent = set(sorted({cell.month for cell in cells}, reverse=True)[:2])
    signals = [cell for cell in cells if cell.state != "balanced" and cell.month in recent]
    details = cell_details(uow.session, signals)
    groups: dict[tuple[str, str, str], list[MarketCell]] = defaultdict(list)
    for cell in cells:
        groups[(cell.county, cell.family, cell.dimension)].append(cell)
    busiest = sorted(groups.items(), key=lambda kv: (-sum(c.needs + c.offers for c in kv[1]), kv[0]))
    trends = [
        (
            key,
            months[0].base_unit,
            paired_columns(
                [(c.month, c.demand, c.supply) for c in sorted(months, key=lambda c: c.month)][
                    -MARKET_MONTHS:
                ],
                names=(t("demand", lang), t("supply", lang)),
                unit=months[0].base_unit,
            ),
        )
        for key, months in busiest[:MARKET_TRENDS]
    ]
    return render(
        request,
        "market.html",
        user,
        "market",
        t("market", lang),
        signals=[(cell, details[key_of(cell)]) for cell in signals],
        trends=trends,
        region=region,
        category_filter=category,
        category=lambda code: _category(code, lang),
    )


def _share_chart(fund: FundRead, lang: Lang) -> Markup:
    """Committed against paid out, per share of ``fund``."""
    return paired_columns(
        [(share.name, float(share.committed), float(share.paid)) for share in fund.shares],
        names=(t("committed", lang), t("paid", lang)),
        unit=t("yuan", lang),
    )


def fund_search(region: Annotated[str, Query(pattern="^[0-9]{0,12}$")] = "") -> lists.FundSearch:
    """The funds' filter from the query string (a FastAPI dependency)."""
    return lists.FundSearch(region=region)


FundSearchDep = Annotated[lists.FundSearch, Depends(fund_search)]


@router.get("/funds")
def funds_page(
    request: Request,
    uow: UowDep,
    user: User,
    asked: PagingDep,
    search: FundSearchDep,
) -> HTMLResponse:
    """The special funds of the region: each share's earmark, receipts, commitments and payments."""
    lang = _lang(request)
    rows = page_of(
        uow.session,
        lists.fund_query(search),
        lists.fund_sorts(),
        asked,
        "/dashboard/funds",
        search.as_filters(),
    )
    funds = [FundRead.of(fund) for fund in rows.rows]
    charts = {fund.id: _share_chart(fund, lang) for fund in funds}
    return render(
        request,
        "funds.html",
        user,
        "funds",
        t("funds", lang),
        p=rows,
        funds=funds,
        charts=charts,
        names=_names(uow),
        **search.as_filters(),
    )


@router.get("/funds.csv")
def funds_export(
    request: Request,
    user: User,
    runtime: RuntimeDep,
    asked: PagingDep,
    search: FundSearchDep,
) -> StreamingResponse:
    """One row per share of each fund: its earmark, receipts, commitments and payments."""
    lang = _lang(request)
    keys = ("funds", "fiscal_year", "region", "organisation", "fund_share", "purpose", "planned", "received")
    header = [t(key, lang) for key in (*keys, "committed", "paid")] + ["id"]

    def cells(session: Session, batch: list[Any]) -> Iterable[Sequence[object]]:
        names = organisation_names(session)
        return [
            [
                fund.name,
                fund.fiscal_year,
                fund.region,
                names.get(fund.organisation_id, fund.organisation_id),
                share.name,
                t(share.purpose, lang),
                share.planned,
                share.received,
                share.committed,
                share.paid,
                fund.id,
            ]
            for fund in map(FundRead.of, batch)
            for share in fund.shares
        ]

    return _csv(runtime, "funds", header, lists.fund_query(search), lists.fund_sorts(), asked, cells)


@router.get("/funds/{fund_id}")
def fund_page(request: Request, fund_id: str, uow: UowDep, user: User) -> HTMLResponse:
    """One fund: its shares, its allocations and its utilisation by quarter and township."""
    lang = _lang(request)
    ledger = fund_queries.fund(uow.session, fund_id)
    fund = FundRead.of(ledger)
    rows = [UtilisationRow.of(ledger, cell) for cell in fund_queries.utilisation(uow.session, fund_id)]
    quarters: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    townships: dict[str, float] = defaultdict(float)
    for row in rows:
        quarters[row.quarter][0] += float(row.allocated - row.released - row.repaid)
        quarters[row.quarter][1] += float(row.paid)
        if row.paid:
            townships[row.township] += float(row.paid)
    by_quarter = paired_columns(
        [(quarter, quarters[quarter][0], quarters[quarter][1]) for quarter in sorted(quarters)],
        names=(t("committed", lang), t("paid", lang)),
        unit=t("yuan", lang),
    )
    by_township = bar_chart(sorted(townships.items()), unit=t("yuan", lang))
    return render(
        request,
        "fund.html",
        user,
        "funds",
        fund.name,
        fund=fund,
        share_names={share.share: share.name for share in fund.shares},
        allocations=fund_queries.allocations(uow.session, fund_id),
        by_share=_share_chart(fund, lang),
        by_quarter=by_quarter,
        by_township=by_township,
        names=_names(uow),
    )


PROJECT_STATES = ("proposed", "active", "completed", "abandoned")


def _project_labels(lang: Lang) -> dict[str, str]:
    """The words for a project's, a member's answer's and a milestone's states."""
    words = {key: t(key, lang) for key in ("active", "completed", "abandoned", "joined", "unregistered")}
    words |= {key: t(key, lang) for key in ("in_progress", "blocked", "done", "overdue")}
    return words | {
        "proposed": t("project_proposed", lang),
        "pending": t("answer_pending", lang),
        "declined": t("declined_answer", lang),
        "open": t("milestone_open", lang),
    }


def project_search(
    status: Annotated[str, Query(pattern="^(proposed|active|completed|abandoned)?$")] = "",
    region: Annotated[str, Query(pattern="^[0-9]{0,12}$")] = "",
) -> lists.ProjectSearch:
    """The projects' filters from the query string (a FastAPI dependency)."""
    return lists.ProjectSearch(status=status, region=region)


ProjectSearchDep = Annotated[lists.ProjectSearch, Depends(project_search)]


@router.get("/projects")
def projects_page(
    request: Request,
    uow: UowDep,
    user: User,
    asked: PagingDep,
    search: ProjectSearchDep,
) -> HTMLResponse:
    """The cross-sector projects: status and why, members, the next milestone, overdue ones."""
    lang = _lang(request)
    found = page_of(
        uow.session,
        lists.project_query(search),
        lists.project_sorts(),
        asked,
        "/dashboard/projects",
        search.as_filters(),
    )
    return render(
        request,
        "projects.html",
        user,
        "projects",
        t("projects", lang),
        p=found,
        projects=[project_data(uow.session, project) for project in found.rows],
        states=PROJECT_STATES,
        labels=_project_labels(lang),
        names=_names(uow),
        **search.as_filters(),
    )


@router.get("/projects.csv")
def projects_export(
    request: Request,
    user: User,
    runtime: RuntimeDep,
    asked: PagingDep,
    search: ProjectSearchDep,
) -> StreamingResponse:
    lang = _lang(request)
    labels = _project_labels(lang)
    header = [t(key, lang) for key in ("title", "status", "lead", "members", "due_date", "region")] + ["id"]

    def cells(session: Session, batch: list[Any]) -> Iterable[Sequence[object]]:
        names = organisation_names(session)
        return [
            [
                p.title,
                labels.get(p.status, p.status),
                names.get(p.lead_organisation_id, p.lead_organisation_id),
                "; ".join(names.get(m["organisation_id"], m["organisation_id"]) for m in p.members),
                p.next_due.isoformat() if p.next_due else "",
                p.region,
                p.id,
            ]
            for p in batch
        ]

    query = lists.project_query(search)
    return _csv(runtime, "projects", header, query, lists.project_sorts(), asked, cells)


def _named_share(reason: dict[str, Any] | None, name: str | None) -> dict[str, Any] | None:
    """A budget line's funding reason naming the fund's share by its name, not its key."""
    if not reason or not name:
        return reason
    return {**reason, "params": {**(reason.get("params") or {}), "share": name}}


@router.get("/projects/{project_id}")
def project_page(request: Request, project_id: str, uow: UowDep, user: User) -> HTMLResponse:
    """One project: members and their answers, milestones with progress, budget and funding."""
    lang = _lang(request)
    project = project_data(uow.session, get_project(uow.session, project_id))
    funds = {b["fund_id"] for b in project.budget_lines if b.get("fund_id")}
    found = select(LedgerShare).where(LedgerShare.fund_id.in_(funds))
    shares = {(s.fund_id, s.share): s.name for s in uow.session.scalars(found)}
    return render(
        request,
        "project.html",
        user,
        "projects",
        project.title,
        project=project,
        shares=shares,
        named_share=_named_share,
        labels=_project_labels(lang),
        names=_names(uow),
    )


DISPUTE_STATES = ("awaiting_mediator", "in_mediation", "settled", "escalated", "decided")


DisputeState = Annotated[str, Query(pattern="^(awaiting_mediator|in_mediation|settled|escalated|decided)?$")]


def dispute_search(
    status: DisputeState = "",
    region: Annotated[str, Query(pattern="^[0-9]{0,12}$")] = "",
) -> lists.DisputeSearch:
    """The disputes' filters from the query string (a FastAPI dependency)."""
    return lists.DisputeSearch(status=status, region=region)


DisputeSearchDep = Annotated[lists.DisputeSearch, Depends(dispute_search)]


@router.get("/disputes")
def disputes_page(
    request: Request,
    uow: UowDep,
    user: User,
    asked: PagingDep,
    search: DisputeSearchDep,
) -> HTMLResponse:
    """Disputes in mediation: whom each waits for and until when."""
    lang = _lang(request)
    found = page_of(
        uow.session,
        lists.dispute_query(search),
        lists.dispute_sorts(),
        asked,
        "/dashboard/disputes",
        search.as_filters(),
    )
    return render(
        request,
        "disputes.html",
        user,
        "disputes",
        t("disputes", lang),
        p=found,
        disputes=[dispute_data(d) for d in found.rows],
        states=DISPUTE_STATES,
        names=_names(uow),
        **search.as_filters(),
    )


@router.get("/disputes.csv")
def disputes_export(
    request: Request,
    user: User,
    runtime: RuntimeDep,
    asked: PagingDep,
    search: DisputeSearchDep,
) -> StreamingResponse:
    lang = _lang(request)
    header = [t(key, lang) for key in ("title", "status", "parties", "mediator", "step", "deadline")] + ["id"]

    def cells(session: Session, batch: list[Any]) -> Iterable[Sequence[object]]:
        names = organisation_names(session)
        rows = []
        for d in map(dispute_data, batch):
            mediator = d.mediator_organisation_id
            rows.append(
                [
                    d.title,
                    t(d.status, lang),
                    "; ".join(names.get(p, p) for p in d.parties),
                    names.get(mediator, mediator) if mediator else "",
                    t("step_" + d.step, lang) if d.step else "",
                    local_time(d.deadline, lang) if d.deadline else "",
                    d.dispute_id,
                ]
            )
        return rows

    query = lists.dispute_query(search)
    return _csv(runtime, "disputes", header, query, lists.dispute_sorts(), asked, cells)


@router.get("/disputes/{dispute_id}")
def dispute_page(request: Request, dispute_id: str, uow: UowDep, user: User) -> HTMLResponse:
    """One dispute: its step and deadline, the mediator (or the form naming one), statements,
    settlements with each party's answer, reminders, history and its record in the chain."""
    dispute = get_dispute(uow.session, dispute_id)
    names = _names(uow)
    social_work = registry_queries.organisations(uow.session, kind="ngo", limit=1000)
    mediators = sorted((o.id, o.name) for o in social_work if o.id not in dispute.parties)
    return render(
        request,
        "dispute.html",
        user,
        "disputes",
        dispute.title,
        dispute=dispute_data(dispute),
        mediators=mediators,
        names=names,
    )


@router.post("/disputes/{dispute_id}/mediator")
async def assign_mediator(
    request: Request,
    dispute_id: str,
    uow: UowDep,
    user: User,
    mediator_organisation_id: Annotated[str, Form(max_length=36)],
    csrf: Annotated[str, Form()],
    runtime: RuntimeDep,
) -> Response:
    _check_csrf(request, csrf)
    page = f"/dashboard/disputes/{quote(dispute_id, safe='')}"
    label = t("assign_mediator", _lang(request))
    try:
        command = AssignMediator(mediator_organisation_id=mediator_organisation_id)
        await run_in_threadpool(
            carry_out, uow, runtime, command, target=dispute_id, coordinator=user.display_name
        )
    except (SifangError, ValueError) as exc:
        return _back(request, page, f"{label}: {_problem(exc)}", True)
    return _back(request, page, f"{label} ✓")


def action_search(
    status: Annotated[str, Query(max_length=20)] = "",
    owner: Annotated[str, Query(max_length=36)] = "",
    meeting_id: Annotated[str, Query(max_length=36)] = "",
) -> lists.ActionSearch:
    """The action items' filters from the query string (a FastAPI dependency)."""
    return lists.ActionSearch(status=status, owner=owner, meeting_id=meeting_id)


ActionSearchDep = Annotated[lists.ActionSearch, Depends(action_search)]


@router.get("/actions")
def actions_page(
    request: Request,
    uow: UowDep,
    user: User,
    asked: PagingDep,
    search: ActionSearchDep,
) -> HTMLResponse:
    found = page_of(
        uow.session,
        lists.action_query(search),
        lists.action_sorts(),
        asked,
        "/dashboard/actions",
        search.as_filters(),
    )
    names = _names(uow)
    owner_ids = uow.session.scalars(select(ActionItem.owner_organisation_id).distinct())
    owners = sorted(((o, names.get(o, "")) for o in owner_ids), key=lambda o: o[1])
    return render(
        request,
        "actions.html",
        user,
        "actions",
        t("actions", _lang(request)),
        p=found,
        actions=found.rows,
        names=names,
        owners=owners,
        **search.as_filters(),
    )


@router.get("/actions.csv")
def actions_export(
    request: Request,
    user: User,
    runtime: RuntimeDep,
    asked: PagingDep,
    search: ActionSearchDep,
    lang: Lang = "zh",
) -> StreamingResponse:
    """The action items the filters select (those of one meeting with ``meeting_id``)."""
    header = [*ACTION_HEADER[lang], "id"]

    def cells(session: Session, batch: list[Any]) -> Iterable[Sequence[object]]:
        names = organisation_names(session)
        return [
            [
                a.title,
                names.get(a.owner_organisation_id, a.owner_organisation_id),
                a.due_date.isoformat(),
                t(a.status, lang),
                a.id,
            ]
            for a in batch
        ]

    query = lists.action_query(search)
    return _csv(runtime, "actions", header, query, lists.action_sorts(), asked, cells)


ACTION_HEADER = {"zh": ["事项", "责任单位", "截止日期", "状态"], "en": ["Item", "Owner", "Due", "Status"]}
