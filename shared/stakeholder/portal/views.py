"""The portal: server-rendered pages at a stakeholder service (``/portal``) for an
organisation's own people, who have no system of their own to call the API with.

Every page acts through the same handlers as the API (same validation, same events); a form
is made from the API's request schema (``forms.py``). Sessions, CSRF and headers are those of
the dashboard (shared/web/sessions.py): a random session id in an HttpOnly cookie, a CSRF
token in every form, no inline script, the Content-Security-Policy on every page.
"""

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from shared.app import UowDep
from shared.db import UnitOfWork
from shared.errors import Forbidden, InvalidInput, NotFound, SifangError
from shared.reasons import Language, language, render_explanation
from shared.stakeholder import service as listings
from shared.stakeholder.market import signals_for
from shared.stakeholder.matches import (
    Decline,
    DeliveryReport,
    answer_match,
    matches_of,
    report_delivery,
)
from shared.stakeholder.meetings import (
    AgendaItemCreate,
    Approval,
    Progress,
    Reply,
    actions_of,
    approve_minutes,
    meeting_of,
    meetings_of,
    propose_agenda_item,
    reply_to_invitation,
    report_progress,
)
from shared.stakeholder.models import EvidenceFile, Listing, Organisation, PortalAccount
from shared.stakeholder.portal import service
from shared.stakeholder.portal.forms import FormError, FormField, fields_of, form_values, parse
from shared.stakeholder.portal.i18n import field_label, refusal_text, t
from shared.stakeholder.schemas import NeedCreate, NeedUpdate, OfferCreate, OfferUpdate, Withdrawal
from shared.stakeholder.service import NEEDS, OFFERS, Side
from shared.stakeholder.views import AnyCredential, CurrentOrg
from shared.taxonomy import VOCABULARIES, category_text, is_within
from shared.text_guard import problem_with
from shared.units import amount_text, unit_text
from shared.web.accounts import ThrottlePolicy
from shared.web.sessions import SessionPolicy, current_handle

__all__ = [
    "FormShape",
    "PortalForm",
    "SignInRequired",
    "core_forms",
    "portal_api_router",
    "portal_router",
    "under",
]

CHINA = ZoneInfo("Asia/Shanghai")  # the counties Sifang serves keep China Standard Time
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
STATIC_FILES = {"portal.css": "text/css"}
Handler = Callable[[UnitOfWork, Organisation, Any], object]


@dataclass(frozen=True)
class FormShape:
    """A form made from one of the API's request schemas: its title (zh, en), the schema, the
    fields it leaves out, and the fields chosen from a list of categories (the field's name →
    the categories an organisation may choose)."""

    title: tuple[str, str]
    schema: type[BaseModel]
    skip: frozenset[str] = frozenset()
    categories: Mapping[str, Callable[[Organisation], list[str]]] = field(default_factory=dict)

    def fields(self) -> list[FormField]:
        return fields_of(self.schema, skip=self.skip)


@dataclass(frozen=True)
class PortalForm(FormShape):
    """A form that creates something through the handler the API calls with the same schema
    (``handle``); ``key`` names it in ``/portal/forms/{key}``, ``back`` is where it returns."""

    key: str = ""
    handle: Handler | None = None
    back: str = "/portal"


def _vocabulary(side: str) -> Callable[[Organisation], list[str]]:
    return lambda org: VOCABULARIES[org.kind].categories(side)


def under(branch: str) -> Callable[[Organisation], list[str]]:
    """Categories under ``branch`` (a produce lot's product, a course's topic)."""
    return lambda org: [
        code for code in VOCABULARIES["community"].categories("need") if is_within(code, branch)
    ]


def _publish(side: Side[Any]) -> Handler:
    return lambda uow, org, command: listings.publish_listing(uow, org, side, command)


def core_forms() -> list[PortalForm]:
    """What every stakeholder service's portal can create: needs, offers, agenda items."""
    return [
        PortalForm(
            ("发布需求", "Post a need"),
            NeedCreate,
            categories={"category": _vocabulary("need")},
            key="need",
            handle=_publish(NEEDS),
            back="/portal/needs",
        ),
        PortalForm(
            ("发布供给", "Post an offer"),
            OfferCreate,
            categories={"category": _vocabulary("offer")},
            key="offer",
            handle=_publish(OFFERS),
            back="/portal/offers",
        ),
        PortalForm(
            ("提议会议议题", "Propose an agenda item"),
            AgendaItemCreate,
            skip=frozenset({"links", "series_id"}),
            key="agenda-item",
            handle=propose_agenda_item,
            back="/portal/meetings",
        ),
    ]


# -- the request's language, CSRF token, account -----------------------------------------------


class SignInRequired(Exception):
    """Raised for a page that needs a signed-in person; answered with a redirect."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


def _lang(request: Request) -> Language:
    chosen = request.query_params.get("lang") or request.session.get("lang") or "zh"
    lang = language(chosen)
    request.session["lang"] = lang
    return lang


def _csrf(request: Request) -> str:
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(24)
    return str(request.session["csrf"])


def _check_csrf(request: Request, token: str) -> None:
    if not secrets.compare_digest(token.encode(), _csrf(request).encode()):
        raise SifangError(t("form_expired", _lang(request)), field="csrf")


@dataclass(frozen=True)
class Person:
    account: PortalAccount
    org: Organisation


def current_person(request: Request, uow: UowDep) -> Person:
    found = service.signed_in_account(uow.session, current_handle(request).username)
    if found is None:
        raise SignInRequired(request.url.path)
    return Person(*found)


Signed = Annotated[Person, Depends(current_person)]
Csrf = Annotated[str, Form()]


def _local(value: object, with_time: bool = True) -> str:
    """A time in China Standard Time (北京时间), as the county reads it."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


templates.env.filters["local"] = _local


def render(request: Request, name: str, person: Person | None, title: str, **context: Any) -> HTMLResponse:
    lang = _lang(request)
    flash = request.session.pop("flash", None)
    return templates.TemplateResponse(
        request,
        name,
        {
            "lang": lang,
            "t": lambda key, **values: t(key, lang, **values),
            "person": person,
            "page_title": title,
            "csrf": _csrf(request),
            "flash": flash[0] if flash else None,
            "flash_error": flash[1] if flash else False,
            "category": lambda code: category_text(code, lang),
            "amount": lambda quantity, unit: amount_text(quantity, unit, lang),
            "unit": lambda unit: unit_text(unit, lang),
            **context,
        },
    )


def _back(request: Request, path: str, message: str | None = None, error: bool = False) -> RedirectResponse:
    if message:
        request.session["flash"] = (message, error)
    return RedirectResponse(path, status_code=303)


def _refusal(exc: SifangError, lang: Language) -> FormError:
    """A handler's refusal as a form error naming the field in the reader's language."""
    label = field_label(exc.field, lang) if exc.field else ""
    text = refusal_text(exc.message, lang)
    return FormError(exc.field or "", f"{label}: {text}" if label else text)


def _posted(form: Mapping[str, Any]) -> dict[str, str]:
    return {key: value for key, value in form.items() if isinstance(value, str)}


async def _posted_form(request: Request) -> dict[str, str]:
    return _posted(await request.form())


Posted = Annotated[dict[str, str], Depends(_posted_form)]


@dataclass(frozen=True)
class Upload:
    filename: str
    content: bytes  # at most one byte beyond the limit: enough to refuse it


async def _upload(evidence: Annotated[UploadFile | None, File()] = None) -> Upload | None:
    if evidence is None or not evidence.filename:
        return None
    return Upload(evidence.filename, await evidence.read(service.MAX_EVIDENCE_BYTES + 1))


Uploaded = Annotated[Upload | None, Depends(_upload)]


def _evidence(uow: UnitOfWork, org: Organisation, upload: Upload | None) -> str:
    """Keep an uploaded photo or document (if any) in the report's transaction and return its
    address, else ""."""
    if upload is None:
        return ""
    record = service.keep_evidence(uow.session, org, upload.filename, upload.content)
    return f"/evidence/{record.sha256}"


def _clean(**fields: str) -> None:
    """Refuse text no database stores (a form's fields the schemas do not check)."""
    for name, value in fields.items():
        problem = problem_with(value)
        if problem is not None:
            raise InvalidInput(problem, field=name)


# -- the routes ---------------------------------------------------------------------------------


def portal_router(
    forms: Sequence[PortalForm],
    session_policy: Callable[[Request], SessionPolicy],
    throttle: ThrottlePolicy,
) -> APIRouter:
    """The portal's pages; ``forms`` are what its people may create (``core_forms()`` plus the
    service's own records: lots, courses, procurements, programmes, disputes)."""
    router = APIRouter(prefix="/portal", include_in_schema=False)
    by_key = {form.key: form for form in forms}

    @router.get("/static/{name}")
    def static_file(name: str) -> Response:
        if name not in STATIC_FILES:
            raise NotFound("no such file", field="name")
        return Response(
            (HERE / "static" / name).read_bytes(),
            media_type=STATIC_FILES[name],
            headers={"cache-control": "public, max-age=3600"},
        )

    @router.get("/sign-in")
    def sign_in_page(request: Request, next: str = "/portal") -> HTMLResponse:
        return render(request, "sign_in.html", None, t("sign_in", _lang(request)), next=_safe_next(next))

    @router.post("/sign-in")
    def sign_in(
        request: Request,
        uow: UowDep,
        csrf: Csrf,
        username: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=200)],
        next: Annotated[str, Form()] = "/portal",
    ) -> Response:
        _check_csrf(request, csrf)
        lang = _lang(request)
        _clean(username=username, password=password)
        result = service.sign_in(uow, request, username, password, throttle, session_policy(request))
        if result.locked_until is not None:
            message = t("locked", lang, until=_local(result.locked_until))
            return _back(request, "/portal/sign-in", message, error=True)
        if result.account is None:
            return _back(request, "/portal/sign-in", t("wrong_password", lang), error=True)
        return RedirectResponse(_safe_next(next), status_code=303)

    @router.post("/sign-out")
    def sign_out(request: Request, uow: UowDep, csrf: Csrf) -> Response:
        _check_csrf(request, csrf)
        service.sign_out(uow, request)
        return RedirectResponse("/portal/sign-in", status_code=303)

    @router.get("")
    def home(request: Request, uow: UowDep, person: Signed) -> HTMLResponse:
        session, org = uow.session, person.org
        matches = matches_of(session, org)
        meetings = meetings_of(session, org)
        return render(
            request,
            "home.html",
            person,
            t("home", _lang(request)),
            forms=forms,
            to_answer=[m for m in matches if m.status == "proposed" and m.my_answer is None],
            invitations=[m for m in meetings if m.meeting is not None and m.meeting.status == "scheduled"],
            to_approve=[
                m
                for m in meetings
                if m.record is not None and org.id in m.record.parties and org.id not in m.record.approved_by
            ],
            actions=[a for a in actions_of(session, org) if a.status != "done"],
            needs=listings.list_listings(session, org, NEEDS, status="open", category=None),
            offers=listings.list_listings(session, org, OFFERS, status="open", category=None),
        )

    # -- creating through a form, and changing a need or offer --

    def _form_page(
        request: Request,
        person: Person,
        form: "FormShape",
        action: str,
        values: Mapping[str, str],
        errors: Sequence[FormError] = (),
    ) -> HTMLResponse:
        lang = _lang(request)
        choices = {
            name: [(code, category_text(code, lang)) for code in options(person.org)]
            for name, options in form.categories.items()
        }
        return render(
            request,
            "form.html",
            person,
            form.title[0 if lang == "zh" else 1],
            fields=form.fields(),
            action=action,
            values=values,
            errors=errors,
            field_errors={e.field: e.message for e in errors if e.field},
            choices=choices,
            group_label=lambda group: t(f"group_{group}", lang),
        )

    @router.get("/forms/{key}")
    def form_page(request: Request, key: str, person: Signed) -> HTMLResponse:
        form = by_key.get(key)
        if form is None:
            raise NotFound(f"no form {key!r}", field="key")
        return _form_page(request, person, form, f"/portal/forms/{key}", {})

    @router.post("/forms/{key}")
    def submit_form(request: Request, key: str, uow: UowDep, person: Signed, posted: Posted) -> Response:
        form = by_key.get(key)
        if form is None:
            raise NotFound(f"no form {key!r}", field="key")
        _check_csrf(request, posted.get("csrf", ""))
        lang = _lang(request)
        command, errors = parse(form.schema, form.fields(), posted, lang)
        if command is not None and form.handle is not None:
            try:
                form.handle(uow, person.org, command)
            except SifangError as exc:
                uow.session.rollback()
                errors = [_refusal(exc, lang)]
        if errors:
            return _form_page(request, person, form, f"/portal/forms/{key}", posted, errors)
        return _back(request, form.back, t("posted" if key in ("need", "offer") else "sent", lang))

    def _listing_pages(side: Side[Any], update: type[BaseModel]) -> None:
        plural = side.plural

        edit_form = FormShape(
            (f"修改{t(plural, 'zh')}", f"Change the {side.name}"),
            update,
            skip=frozenset({"requirements", "qualities"}),
            categories={"category": _vocabulary(side.name)},
        )

        def list_page(request: Request, uow: UowDep, person: Signed) -> HTMLResponse:
            rows = listings.list_listings(uow.session, person.org, side, status=None, category=None)
            rows.sort(key=lambda row: (row.status != "open", row.created_at), reverse=False)
            return render(request, "listings.html", person, t(plural, _lang(request)), side=side, rows=rows)

        def edit_page(request: Request, listing_id: str, uow: UowDep, person: Signed) -> HTMLResponse:
            row = listings.get_listing(uow.session, person.org, side, listing_id)
            values = _listing_values(row, edit_form.fields())
            return _form_page(request, person, edit_form, f"/portal/{plural}/{listing_id}/edit", values)

        def edit(request: Request, listing_id: str, uow: UowDep, person: Signed, posted: Posted) -> Response:
            _check_csrf(request, posted.get("csrf", ""))
            lang = _lang(request)
            command, errors = parse(update, edit_form.fields(), posted, lang, clearing=True)
            if command is not None:
                try:
                    listings.update_listing(uow, person.org, side, listing_id, command)  # type: ignore[arg-type]
                except SifangError as exc:
                    uow.session.rollback()
                    errors = [_refusal(exc, lang)]
            if errors:
                action = f"/portal/{plural}/{listing_id}/edit"
                return _form_page(request, person, edit_form, action, posted, errors)
            return _back(request, f"/portal/{plural}", t("saved", lang))

        def withdraw(
            request: Request,
            listing_id: str,
            uow: UowDep,
            person: Signed,
            csrf: Csrf,
            reason: Annotated[str, Form()] = "",
        ) -> Response:
            _check_csrf(request, csrf)
            lang = _lang(request)
            try:
                _clean(reason=reason)
                command = Withdrawal(reason=reason.strip() or t("withdraw", lang))
                listings.withdraw_listing(uow, person.org, side, listing_id, command.reason)
            except SifangError as exc:
                uow.session.rollback()
                return _back(request, f"/portal/{plural}", _refusal(exc, lang).message, error=True)
            return _back(request, f"/portal/{plural}", t("saved", lang))

        router.add_api_route(f"/{plural}", list_page, methods=["GET"])
        router.add_api_route(f"/{plural}/{{listing_id}}/edit", edit_page, methods=["GET"])
        router.add_api_route(f"/{plural}/{{listing_id}}/edit", edit, methods=["POST"])
        router.add_api_route(f"/{plural}/{{listing_id}}/withdraw", withdraw, methods=["POST"])

    _listing_pages(NEEDS, NeedUpdate)
    _listing_pages(OFFERS, OfferUpdate)

    # -- proposals --

    @router.get("/matches")
    def matches_page(request: Request, uow: UowDep, person: Signed) -> HTMLResponse:
        lang = _lang(request)
        rows = matches_of(uow.session, person.org)
        return render(
            request,
            "matches.html",
            person,
            t("matches", lang),
            rows=rows,
            explained={m.match_id: render_explanation(m.explanation, lang) for m in rows},
        )

    @router.post("/matches/{match_id}/accept")
    def accept(request: Request, match_id: str, uow: UowDep, person: Signed, csrf: Csrf) -> Response:
        _check_csrf(request, csrf)
        return _acted(
            request, uow, lambda: answer_match(uow, person.org, match_id, "accepted", ""), "/portal/matches"
        )

    @router.post("/matches/{match_id}/decline")
    def decline(
        request: Request,
        match_id: str,
        uow: UowDep,
        person: Signed,
        csrf: Csrf,
        reason: Annotated[str, Form()] = "",
    ) -> Response:
        _check_csrf(request, csrf)

        def act() -> object:
            command = _validated(Decline, {"reason": reason}, _lang(request))
            return answer_match(uow, person.org, match_id, "declined", command.reason)

        return _acted(request, uow, act, "/portal/matches")

    @router.post("/matches/{match_id}/deliveries")
    def deliver(
        request: Request,
        match_id: str,
        uow: UowDep,
        person: Signed,
        csrf: Csrf,
        upload: Uploaded,
        quantity: Annotated[str, Form()] = "",
        note: Annotated[str, Form()] = "",
    ) -> Response:
        _check_csrf(request, csrf)

        def act() -> object:
            command = _validated(DeliveryReport, {"quantity": quantity, "note": note}, _lang(request))
            command.evidence_url = _evidence(uow, person.org, upload)  # kept if the report is
            return report_delivery(uow, person.org, match_id, command)

        return _acted(request, uow, act, "/portal/matches")

    # -- meetings and actions --

    @router.get("/meetings")
    def meetings_page(request: Request, uow: UowDep, person: Signed) -> HTMLResponse:
        rows = meetings_of(uow.session, person.org)
        return render(request, "meetings.html", person, t("meetings", _lang(request)), rows=rows)

    @router.get("/meetings/{meeting_id}")
    def meeting_page(request: Request, meeting_id: str, uow: UowDep, person: Signed) -> HTMLResponse:
        notice = meeting_of(uow.session, person.org, meeting_id)
        title = notice.meeting.title if notice.meeting else meeting_id
        return render(request, "meeting.html", person, title, notice=notice)

    @router.post("/meetings/{meeting_id}/reply")
    def reply(
        request: Request,
        meeting_id: str,
        uow: UowDep,
        person: Signed,
        csrf: Csrf,
        answer: Annotated[str, Form()] = "",
        delegate: Annotated[str, Form()] = "",
    ) -> Response:
        _check_csrf(request, csrf)

        def act() -> object:
            command = _validated(Reply, {"reply": answer, "delegate": delegate}, _lang(request))
            return reply_to_invitation(uow, person.org, meeting_id, command)

        return _acted(request, uow, act, f"/portal/meetings/{quote(meeting_id)}")

    @router.post("/meetings/{meeting_id}/approve")
    def approve(
        request: Request,
        meeting_id: str,
        uow: UowDep,
        person: Signed,
        csrf: Csrf,
        record_hash: Annotated[str, Form()] = "",
    ) -> Response:
        _check_csrf(request, csrf)

        def act() -> object:
            command = _validated(Approval, {"record_hash": record_hash}, _lang(request))
            return approve_minutes(uow, person.org, meeting_id, command)

        return _acted(request, uow, act, f"/portal/meetings/{quote(meeting_id)}")

    @router.get("/actions")
    def actions_page(request: Request, uow: UowDep, person: Signed) -> HTMLResponse:
        rows = actions_of(uow.session, person.org)
        return render(request, "actions.html", person, t("actions", _lang(request)), rows=rows)

    @router.post("/actions/{action_id}/progress")
    def progress(
        request: Request,
        action_id: str,
        uow: UowDep,
        person: Signed,
        csrf: Csrf,
        upload: Uploaded,
        status: Annotated[str, Form()] = "",
        note: Annotated[str, Form()] = "",
    ) -> Response:
        _check_csrf(request, csrf)

        def act() -> object:
            command = _validated(Progress, {"status": status, "note": note}, _lang(request))
            command.evidence_url = _evidence(uow, person.org, upload)  # kept if the report is
            return report_progress(uow, person.org, action_id, command)

        return _acted(request, uow, act, "/portal/actions")

    # -- market signals --

    @router.get("/market")
    def market_page(request: Request, uow: UowDep, person: Signed) -> HTMLResponse:
        lang = _lang(request)
        rows = signals_for(uow.session, person.org, every_category=True, lang=lang)
        return render(request, "market.html", person, t("market", lang), rows=rows)

    # -- people of the organisation --

    @router.get("/people")
    def people_page(request: Request, uow: UowDep, person: Signed) -> HTMLResponse:
        rows = service.accounts_of(uow.session, person.org)
        return render(
            request, "people.html", person, t("people", _lang(request)), rows=rows, values={}, errors=[]
        )

    @router.post("/people")
    def add_person(
        request: Request,
        uow: UowDep,
        person: Signed,
        csrf: Csrf,
        username: Annotated[str, Form()] = "",
        display_name: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        role: Annotated[str, Form()] = "member",
    ) -> Response:
        _check_csrf(request, csrf)
        lang = _lang(request)
        if person.account.role != "admin":
            return _back(request, "/portal/people", t("only_admins", lang), error=True)
        try:
            _clean(username=username, display_name=display_name, password=password)
            service.create_account(
                uow.session,
                person.org,
                username.strip(),
                display_name,
                password,
                role,
                person.account.username,
            )
            uow.commit()
        except SifangError as exc:
            uow.session.rollback()
            rows = service.accounts_of(uow.session, person.org)
            values = {"username": username, "display_name": display_name, "role": role}
            return render(
                request,
                "people.html",
                person,
                t("people", lang),
                rows=rows,
                values=values,
                errors=[_refusal(exc, lang)],
            )
        return _back(request, "/portal/people", t("saved", lang))

    @router.post("/people/{username}/deactivate")
    def deactivate(request: Request, username: str, uow: UowDep, person: Signed, csrf: Csrf) -> Response:
        _check_csrf(request, csrf)
        return _acted(
            request, uow, lambda: service.deactivate_account(uow, person.account, username), "/portal/people"
        )

    return router


def _acted(request: Request, uow: UnitOfWork, act: Callable[[], object], back: str) -> RedirectResponse:
    """Run a handler in ``uow`` and go back, saying it was sent, or why it was refused (its
    transaction rolled back at once: the session's own write must not wait for it). A report
    whose evidence file another report stored at the same moment is made once more (the file is
    then found)."""
    lang = _lang(request)
    try:
        try:
            act()
        except IntegrityError:
            uow.session.rollback()
            act()
    except SifangError as exc:
        uow.session.rollback()
        return _back(request, back, _refusal(exc, lang).message, error=True)
    return _back(request, back, t("sent", lang))


M = Any


def _validated(model: type[BaseModel], data: dict[str, Any], lang: Language) -> M:
    """``data`` as ``model``, or an error naming the field in ``lang``."""
    fields = fields_of(model)
    command, errors = parse(model, fields, {k: str(v) for k, v in data.items()}, lang)
    if command is None:
        first = errors[0]
        raise SifangError(first.message, field=first.field or None)
    return command


def _safe_next(path: str) -> str:
    """Only a path of the portal itself (no open redirect)."""
    return (
        path if path.startswith("/portal") and not path.startswith("//") and "\\" not in path else "/portal"
    )


def _listing_values(row: Listing, fields: list[FormField]) -> dict[str, str]:
    data = {
        "category": row.category,
        "title": row.title,
        "description": row.description,
        "quantity": format(Decimal(row.quantity).normalize(), "f"),
        "unit": row.unit,
        "region": row.region,
        "window_start": row.window_start.isoformat() if row.window_start else None,
        "window_end": row.window_end.isoformat() if row.window_end else None,
        "service_area": getattr(row, "service_area", None),
    }
    return form_values(data, fields)


class EvidenceStored(BaseModel):
    sha256: str
    size: int
    content_type: str
    url: str = Field(description="where it is served; put it in a report's evidence_url")


class PortalAccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    display_name: Annotated[str, Field(min_length=1, max_length=100)]
    password: Annotated[str, Field(min_length=10, max_length=200)]
    role: Literal["admin", "member"] = "member"


class PortalAccountRead(BaseModel):
    username: str
    organisation_id: str
    display_name: str
    role: str
    active: bool


def portal_api_router() -> APIRouter:
    """The API beside the portal: ``POST /organisations/{id}/portal-accounts`` (an operator with
    the admin token, or the organisation's own system with its key, creates an account for one of
    its people); ``POST /evidence`` and ``GET /evidence/{sha256}``: an evidence file, by the
    SHA-256 of its content (the address progress and delivery reports carry). A file is served as
    what its first bytes say it is, never as a page: no sniffing, a sandboxing policy, and
    documents as downloads."""
    router = APIRouter(tags=["evidence"])

    @router.post(
        "/organisations/{organisation_id}/portal-accounts",
        status_code=201,
        response_model=PortalAccountRead,
        tags=["organisations"],
        summary="Create a portal account for one of the organisation's people",
    )
    def add_account(
        organisation_id: str,
        body: PortalAccountCreate,
        uow: UowDep,
        caller: Annotated[Organisation | None, AnyCredential],
    ) -> PortalAccountRead:
        if caller is not None and caller.id != organisation_id:
            raise Forbidden("an organisation's key creates accounts for that organisation only", field="id")
        org = uow.session.get(Organisation, organisation_id)
        if org is None:
            raise NotFound(f"no organisation {organisation_id!r}", field="organisation_id")
        by = "operator" if caller is None else "api-key"
        account = service.create_account(
            uow.session, org, body.username, body.display_name, body.password, body.role, by
        )
        uow.commit()
        return PortalAccountRead(
            username=account.username,
            organisation_id=org.id,
            display_name=account.display_name,
            role=account.role,
            active=account.active,
        )

    @router.post(
        "/evidence",
        status_code=201,
        response_model=EvidenceStored,
        summary="Store a photo or document as evidence (at most 5 MB); returns its address",
    )
    def upload_evidence(uow: UowDep, org: CurrentOrg, upload: Uploaded) -> EvidenceStored:
        if upload is None:
            raise InvalidInput("send the file as the multipart field 'evidence'", field="evidence")
        record = service.store_evidence(uow, org, upload.filename, upload.content)
        return EvidenceStored(
            sha256=record.sha256,
            size=record.size,
            content_type=record.content_type,
            url=f"/evidence/{record.sha256}",
        )

    @router.get(
        "/evidence/{sha256}",
        summary="An evidence file by the SHA-256 of its content",
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}, "application/pdf": {}}}},
    )
    def evidence_file(sha256: str, uow: UowDep) -> Response:
        record = uow.session.get(EvidenceFile, sha256.lower()) if len(sha256) == 64 else None
        if record is None:
            raise NotFound("no evidence file with that hash", field="sha256")
        inline = record.content_type.startswith("image/")
        disposition = "inline" if inline else "attachment"
        return Response(
            record.content,
            media_type=record.content_type,
            headers={
                "content-disposition": f"{disposition}; filename*=UTF-8''{quote(record.filename)}",
                "x-content-type-options": "nosniff",
                "content-security-policy": "default-src 'none'; sandbox",
                "cache-control": "public, max-age=31536000, immutable",
                "x-sha256": record.sha256,
            },
        )

    return router
