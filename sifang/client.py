"""A Python client for the Sifang services over HTTP (httpx), synchronous and asynchronous.

    from sifang.client import Sifang
    with Sifang(admin_token=token) as sifang:
        org, key = sifang.register("community", "东村合作社", "610124104201")
        village = sifang.stakeholder("community", key)
        village.post_need(category="training.livestream", title="直播培训", quantity=30, unit="人")
        sifang.coordinator.needs(region="610124")

    # An integrator or a coordinator: a scoped API token (``sifang tokens issue``) for the
    # coordinator, no admin token.
    with Sifang(token="sft_...") as sifang:
        sifang.coordinator.events(limit=10)

``AsyncSifang`` has the same methods, to be awaited. Every error answer raises
:class:`SifangAPIError` with the service's JSON error.
"""

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import httpx

__all__ = ["DEFAULT_URLS", "AsyncSifang", "CoordinatorAPI", "Sifang", "SifangAPIError", "StakeholderAPI"]

DEFAULT_URLS = {
    "coordinator": "http://127.0.0.1:8100",
    "government": "http://127.0.0.1:8101",
    "enterprise": "http://127.0.0.1:8102",
    "ngo": "http://127.0.0.1:8103",
    "community": "http://127.0.0.1:8104",
}

R = TypeVar("R")
Call = Callable[[str, str, dict[str, Any]], R]


class SifangAPIError(Exception):
    """An error answer: ``status`` and the service's JSON body (``error``, ``message``, ``errors``)."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else str(body)
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.body = body


def _result(response: httpx.Response) -> Any:
    body: Any = response.json() if "json" in response.headers.get("content-type", "") else response.text
    if response.is_error:
        raise SifangAPIError(response.status_code, body)
    return body


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


class StakeholderAPI(Generic[R]):
    """One organisation's view of its own stakeholder service."""

    def __init__(self, call: Call[R]) -> None:
        self._call = call

    def me(self) -> R:
        return self._call("GET", "/organisations/me", {})

    def categories(self) -> R:
        return self._call("GET", "/categories", {})

    def post_need(self, **need: Any) -> R:
        return self._call("POST", "/needs", {"json": need})

    def post_offer(self, **offer: Any) -> R:
        return self._call("POST", "/offers", {"json": offer})

    def needs(self, status: str | None = None, category: str | None = None) -> R:
        return self._call("GET", "/needs", {"params": _clean({"status": status, "category": category})})

    def offers(self, status: str | None = None, category: str | None = None) -> R:
        return self._call("GET", "/offers", {"params": _clean({"status": status, "category": category})})

    def update(self, side: str, listing_id: str, **changes: Any) -> R:
        return self._call("PATCH", f"/{side}s/{listing_id}", {"json": changes})

    def withdraw(self, side: str, listing_id: str, reason: str) -> R:
        return self._call("POST", f"/{side}s/{listing_id}/withdraw", {"json": {"reason": reason}})

    def create(self, path: str, **body: Any) -> R:
        """A service's own record: ``/lots``, ``/courses``, ``/programmes``, ``/procurements``..."""
        return self._call("POST", path, {"json": body})

    def matches(self, status: str | None = None) -> R:
        return self._call("GET", "/matches", {"params": _clean({"status": status})})

    def accept(self, match_id: str) -> R:
        return self._call("POST", f"/matches/{match_id}/accept", {})

    def decline(self, match_id: str, reason: str) -> R:
        return self._call("POST", f"/matches/{match_id}/decline", {"json": {"reason": reason}})

    def report_delivery(self, match_id: str, quantity: Any, note: str = "", evidence_url: str = "") -> R:
        body = {"quantity": str(quantity), "note": note, "evidence_url": evidence_url}
        return self._call("POST", f"/matches/{match_id}/deliveries", {"json": body})

    def meetings(self) -> R:
        return self._call("GET", "/meetings", {})

    def reply(self, meeting_id: str, reply: str, delegate: str = "") -> R:
        return self._call(
            "POST", f"/meetings/{meeting_id}/reply", {"json": {"reply": reply, "delegate": delegate}}
        )

    def approve_minutes(self, meeting_id: str, record_hash: str) -> R:
        return self._call(
            "POST", f"/meetings/{meeting_id}/minutes/approve", {"json": {"record_hash": record_hash}}
        )

    def propose_agenda_item(self, title: str, description: str = "", series_id: str | None = None) -> R:
        body = _clean({"title": title, "description": description, "series_id": series_id})
        return self._call("POST", "/agenda-items", {"json": body})

    def actions(self) -> R:
        return self._call("GET", "/actions", {})

    def report_progress(self, action_id: str, status: str, note: str = "", evidence_url: str = "") -> R:
        body = {"status": status, "note": note, "evidence_url": evidence_url}
        return self._call("POST", f"/actions/{action_id}/progress", {"json": body})

    def projects(self) -> R:
        """Cross-sector projects concerning the organisation (as the coordinator last stated them)."""
        return self._call("GET", "/projects", {})

    def answer_project(self, project_id: str, answer: str, reason: str = "") -> R:
        """``join`` or ``decline`` a project the organisation is invited to."""
        return self._call(
            "POST", f"/projects/{project_id}/answer", {"json": {"answer": answer, "reason": reason}}
        )

    def report_milestone(
        self, project_id: str, milestone_id: str, status: str, note: str = "", evidence_url: str = ""
    ) -> R:
        body = {"milestone_id": milestone_id, "status": status, "note": note, "evidence_url": evidence_url}
        return self._call("POST", f"/projects/{project_id}/progress", {"json": body})

    def close_project(self, project_id: str, outcome: str, report: str, evidence_url: str = "") -> R:
        body = {"outcome": outcome, "report": report, "evidence_url": evidence_url}
        return self._call("POST", f"/projects/{project_id}/close", {"json": body})

    def disputes(self) -> R:
        """Disputes the organisation is party to or mediates."""
        return self._call("GET", "/disputes", {})

    def state_case(self, dispute_id: str, statement: str, evidence_url: str = "") -> R:
        body = {"statement": statement, "evidence_url": evidence_url}
        return self._call("POST", f"/disputes/{dispute_id}/statements", {"json": body})

    def propose_settlement(self, dispute_id: str, terms: str) -> R:
        """As the dispute's mediator."""
        return self._call("POST", f"/disputes/{dispute_id}/settlements", {"json": {"terms": terms}})

    def answer_settlement(self, dispute_id: str, settlement_id: str, answer: str, reason: str = "") -> R:
        """``accept`` or ``reject``."""
        body = {"answer": answer, "reason": reason}
        return self._call(
            "POST", f"/disputes/{dispute_id}/settlements/{settlement_id}/answer", {"json": body}
        )

    def end_mediation(self, dispute_id: str, note: str) -> R:
        """As the dispute's mediator: the mediation failed, the dispute goes to the joint meeting."""
        return self._call("POST", f"/disputes/{dispute_id}/fail", {"json": {"note": note}})


class CoordinatorAPI(Generic[R]):
    """The coordinator's API, with the client's API token (or else the admin token)."""

    def __init__(self, call: Call[R]) -> None:
        self._call = call

    def get(self, path: str, **params: Any) -> R:
        return self._call("GET", path, {"params": _clean(params)})

    def post(self, path: str, body: dict[str, Any] | None = None) -> R:
        return self._call("POST", path, {"json": body or {}})

    def organisations(self, **filters: Any) -> R:
        return self.get("/organisations", **filters)

    def needs(self, **filters: Any) -> R:
        return self.get("/needs", **filters)

    def offers(self, **filters: Any) -> R:
        return self.get("/offers", **filters)

    def matches(self, **filters: Any) -> R:
        return self.get("/matches", **filters)

    def match(self, match_id: str) -> R:
        return self.get(f"/matches/{match_id}")

    def events(self, **filters: Any) -> R:
        return self.get("/events", **filters)

    def dead_letters(self) -> R:
        return self.get("/dead-letters")

    def create_series(self, **series: Any) -> R:
        return self.post("/series", series)

    def schedule_meeting(self, series_id: str, **meeting: Any) -> R:
        return self.post(f"/series/{series_id}/meetings", meeting)

    def compile_agenda(self, meeting_id: str) -> R:
        return self.post(f"/meetings/{meeting_id}/agenda/compile")

    def publish_agenda(self, meeting_id: str) -> R:
        return self.post(f"/meetings/{meeting_id}/agenda/publish")

    def subscribe_webhook(self, url: str, **filters: Any) -> R:
        return self.post("/webhooks", {"url": url, **filters})

    def webhooks(self) -> R:
        return self.get("/webhooks")

    def issue_token(
        self, name: str, scopes: list[str], expires_days: int = 90, coordinator: str | None = None
    ) -> R:
        """A new API token (``admin`` scope); its secret, ``token``, is in this answer only."""
        body = _clean(
            {"name": name, "scopes": scopes, "expires_days": expires_days, "coordinator": coordinator}
        )
        return self.post("/tokens", body)

    def tokens(self) -> R:
        return self.get("/tokens")

    def revoke_token(self, token_id: str) -> R:
        return self._call("DELETE", f"/tokens/{token_id}", {})


class _Base:
    def __init__(self, urls: dict[str, str] | None, admin_token: str | None, token: str | None) -> None:
        self.urls = DEFAULT_URLS | (urls or {})
        self.admin_token = admin_token
        self.token = token  # a scoped API token for the coordinator

    def _headers(self, key: str | None) -> dict[str, str]:
        token = key or self.admin_token
        return {"Authorization": f"Bearer {token}"} if token else {}


class Sifang(_Base):
    """Synchronous client."""

    def __init__(
        self,
        urls: dict[str, str] | None = None,
        admin_token: str | None = None,
        timeout: float = 10.0,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(urls, admin_token, token)
        self._http = httpx.Client(timeout=timeout, transport=transport)

    def __enter__(self) -> "Sifang":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _caller(self, service: str, key: str | None) -> Call[Any]:
        def call(method: str, path: str, kwargs: dict[str, Any]) -> Any:
            response = self._http.request(
                method, self.urls[service] + path, headers=self._headers(key), **kwargs
            )
            return _result(response)

        return call

    def register(
        self, kind: str, name: str, region: str, contact: dict[str, str] | None = None
    ) -> tuple[Any, str]:
        """Register an organisation (admin token); returns it and its API key."""
        body = self._caller(kind, None)(
            "POST", "/organisations", {"json": {"name": name, "region": region, "contact": contact or {}}}
        )
        return body["organisation"], body["api_key"]

    def stakeholder(self, kind: str, api_key: str) -> StakeholderAPI[Any]:
        return StakeholderAPI(self._caller(kind, api_key))

    @property
    def coordinator(self) -> CoordinatorAPI[Any]:
        return CoordinatorAPI(self._caller("coordinator", self.token))

    def health(self) -> dict[str, Any]:
        """Each service's /healthz answer (or the error reaching it)."""
        found: dict[str, Any] = {}
        for service, url in self.urls.items():
            try:
                found[service] = self._http.get(url + "/healthz", timeout=3).json()
            except (httpx.HTTPError, ValueError) as exc:
                found[service] = {"status": "unreachable", "error": str(exc)}
        return found


class AsyncSifang(_Base):
    """Asynchronous client: the same methods, awaited."""

    def __init__(
        self,
        urls: dict[str, str] | None = None,
        admin_token: str | None = None,
        timeout: float = 10.0,
        token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(urls, admin_token, token)
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def __aenter__(self) -> "AsyncSifang":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _caller(self, service: str, key: str | None) -> Call[Awaitable[Any]]:
        async def call(method: str, path: str, kwargs: dict[str, Any]) -> Any:
            response = await self._http.request(
                method, self.urls[service] + path, headers=self._headers(key), **kwargs
            )
            return _result(response)

        return call

    async def register(
        self, kind: str, name: str, region: str, contact: dict[str, str] | None = None
    ) -> tuple[Any, str]:
        body = await self._caller(kind, None)(
            "POST", "/organisations", {"json": {"name": name, "region": region, "contact": contact or {}}}
        )
        return body["organisation"], body["api_key"]

    def stakeholder(self, kind: str, api_key: str) -> StakeholderAPI[Awaitable[Any]]:
        return StakeholderAPI(self._caller(kind, api_key))

    @property
    def coordinator(self) -> CoordinatorAPI[Awaitable[Any]]:
        return CoordinatorAPI(self._caller("coordinator", self.token))
