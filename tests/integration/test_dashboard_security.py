"""The dashboard's defences, against the real app (real nats-server, SQLite and PostgreSQL):
security headers and CSP, server-side sessions that logout and a password change revoke,
sign-in throttling per account and per client address, Secure cookies over HTTPS."""

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.coordinator.app import CoordinatorSettings, create_app
from services.coordinator.dashboard.accounts import authenticate, change_password, create_account
from services.coordinator.dashboard.models import DashboardSession, LoginAttempt
from services.coordinator.dashboard.sessions import COOKIE
from services.coordinator.dashboard.views import session_policy
from shared.db import make_engine
from sifang.platform import LocalNats

PASSWORD = "a long enough password"


@dataclass
class Dashboard:
    app: FastAPI
    client: TestClient
    url: str
    settings: CoordinatorSettings

    def client_from(self, address: str, **options: object) -> TestClient:
        return TestClient(self.app, follow_redirects=False, client=(address, 40000), **options)  # type: ignore[arg-type]

    def session(self) -> Session:
        return Session(make_engine(self.url))


@pytest.fixture
def dashboard(service_database: Callable[[str], str], nats_server: LocalNats) -> Iterator[Dashboard]:
    url = service_database("coordinator")
    engine = make_engine(url)
    with Session(engine) as session:
        create_account(session, "li", "李主任", PASSWORD)
        create_account(session, "wang", "王主任", PASSWORD)
        session.commit()
    engine.dispose()
    settings = CoordinatorSettings(
        database_url=url,
        nats_url=nats_server.url,
        admin_token="dashboard-admin-token-0123",
        login_max_failures=5,
        login_max_failures_per_address=8,
        login_window_minutes=15,
    )
    app = create_app(settings)
    with TestClient(app, follow_redirects=False, client=("10.0.0.1", 40000)) as client:
        yield Dashboard(app, client, url, settings)


def _csrf(client: TestClient, path: str = "/dashboard/login") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def _sign_in(client: TestClient, username: str = "li", password: str = PASSWORD) -> tuple[int, str]:
    """Posts the sign-in form; returns the status and the flash message shown afterwards (if any)."""
    response = client.post(
        "/dashboard/login",
        data={"username": username, "password": password, "csrf": _csrf(client), "next": "/dashboard"},
    )
    assert response.status_code == 303
    if response.headers["location"].startswith("/dashboard/login"):
        flash = re.search(r'id="flash">([^<]*)<', client.get(response.headers["location"]).text)
        return 303, flash.group(1) if flash else ""
    return 303, "signed in"


def test_every_dashboard_response_carries_the_security_headers(dashboard: Dashboard) -> None:
    client = dashboard.client
    for response in (client.get("/dashboard/login"), client.get("/dashboard"), client.get("/dashboard/nope")):
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "default-src 'none'" in csp and "base-uri 'none'" in csp and "form-action 'self'" in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
    assert client.get("/dashboard").status_code == 303  # headers on the redirect too
    assert _sign_in(client) == (303, "signed in")
    for path in (
        "/dashboard",
        "/dashboard/matches",
        "/dashboard/needs",
        "/dashboard/meetings",
        "/dashboard/actions",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers["cache-control"] == "no-store"
        assert not re.search(r"<script(?![^>]*\ssrc=)", page.text), path  # no inline script
        assert not re.search(r"\son[a-z]+=", page.text), path  # no inline event handler
        assert "style=" not in page.text and "<style" not in page.text, path
        assert '<script src="/dashboard/static/dashboard.js" defer></script>' in page.text
    script = client.get("/dashboard/static/dashboard.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text and "textContent" in script.text
    assert client.get("/dashboard/static/dashboard.css").headers["content-type"].startswith("text/css")
    assert client.get("/dashboard/static/..%2Fviews.py").status_code == 404
    # The rest of the API is not the dashboard's business.
    assert "content-security-policy" not in client.get("/healthz").headers


def test_the_cookie_is_only_a_session_id_and_signing_out_revokes_it(dashboard: Dashboard) -> None:
    client = dashboard.client
    client.get("/dashboard/login")
    anonymous = client.cookies[COOKIE]
    assert _sign_in(client) == (303, "signed in")
    cookie = client.cookies[COOKIE]
    assert cookie != anonymous  # a new id at sign-in: no session fixation
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie)  # 256 random bits, nothing else
    set_cookie = client.get("/dashboard/login").headers.get("set-cookie")
    assert set_cookie is None  # an unchanged session sets no cookie
    with dashboard.session() as session:
        row = session.get(DashboardSession, hashlib.sha256(cookie.encode()).hexdigest())
        assert row is not None and row.username == "li" and row.revoked_at is None
        assert session.get(DashboardSession, cookie) is None  # stored hashed only
        old = session.get(DashboardSession, hashlib.sha256(anonymous.encode()).hexdigest())
        assert old is not None and old.revoked_at is not None

    # A copy of the cookie (another browser, an attacker) works while the session lives...
    copied = dashboard.client_from("10.9.9.9", cookies={COOKIE: cookie})
    assert copied.get("/dashboard").status_code == 200
    # ...and not after its owner signs out.
    out = client.post("/dashboard/logout", data={"csrf": _csrf(client, "/dashboard")})
    assert out.status_code == 303 and "Max-Age=0" in out.headers["set-cookie"]
    assert client.get("/dashboard").status_code == 303
    refused = copied.get("/dashboard")
    assert refused.status_code == 303 and refused.headers["location"].startswith("/dashboard/login")
    assert copied.get("/dashboard/stream").status_code == 303
    with dashboard.session() as session:
        row = session.get(DashboardSession, hashlib.sha256(cookie.encode()).hexdigest())
        assert row is not None and row.revoked_at is not None
    # CSRF still guards the forms of a signed-in session.
    assert _sign_in(client) == (303, "signed in")
    forged = client.post("/dashboard/logout", data={"csrf": "forged"})
    assert forged.status_code == 400 and forged.json()["errors"][0]["field"] == "csrf"
    assert client.get("/dashboard").status_code == 200


def test_sessions_expire(dashboard: Dashboard) -> None:
    client = dashboard.client
    assert _sign_in(client) == (303, "signed in")
    with dashboard.session() as session:
        for row in session.scalars(select(DashboardSession)):
            row.last_seen_at -= timedelta(hours=3)
        session.commit()
    assert client.get("/dashboard").status_code == 303  # idle for longer than 120 minutes


def test_a_password_change_revokes_every_session_of_the_account(dashboard: Dashboard) -> None:
    first, second, other = (
        dashboard.client,
        dashboard.client_from("10.0.0.2"),
        dashboard.client_from("10.0.0.3"),
    )
    assert _sign_in(first) == (303, "signed in")
    assert _sign_in(second) == (303, "signed in")
    assert _sign_in(other, "wang") == (303, "signed in")
    with dashboard.session() as session:
        assert change_password(session, "li", "a brand new password") == 2
        session.commit()
        assert authenticate(session, "li", PASSWORD) is None
        assert authenticate(session, "li", "a brand new password") is not None
    assert first.get("/dashboard").status_code == 303
    assert second.get("/dashboard").status_code == 303
    assert other.get("/dashboard").status_code == 200  # another account's sessions live on
    assert _sign_in(first)[1] in ("用户名或密码错误", "Wrong username or password")
    assert _sign_in(first, password="a brand new password") == (303, "signed in")


def test_sign_ins_are_throttled_per_account(dashboard: Dashboard) -> None:
    client = dashboard.client
    for _ in range(5):
        assert _sign_in(client, password="wrong password!")[1] == "用户名或密码错误"
    # The right password is refused now, with when to try again.
    _, message = _sign_in(client)
    assert "登录失败次数过多" in message and re.search(r"\d\d:\d\d", message), message
    assert client.get("/dashboard").status_code == 303
    client.get("/dashboard/login?lang=en")
    message = _sign_in(client)[1]
    assert message.startswith("Too many failed sign-ins") and "try again after" in message.lower()
    assert re.search(r"in about 1[45] min", message), message
    # From another address too: the lock is the account's...
    assert "登录失败次数过多" in _sign_in(dashboard.client_from("10.0.0.2"))[1]
    # ...but another account from the same address signs in.
    assert _sign_in(dashboard.client_from("10.0.0.1"), "wang") == (303, "signed in")
    # Refused attempts were not counted; the lock holds after a restart (it is in the database)
    # and in any other process sharing it.
    with dashboard.session() as session:
        failures = session.scalars(select(LoginAttempt).where(LoginAttempt.username == "li")).all()
        assert len(failures) == 5 and not any(a.succeeded for a in failures)
    with TestClient(
        create_app(dashboard.settings), follow_redirects=False, client=("10.0.0.5", 1)
    ) as restarted:
        assert "登录失败次数过多" in _sign_in(restarted)[1]
    # Once the failures leave the window, the right password works again.
    with dashboard.session() as session:
        for attempt in session.scalars(select(LoginAttempt)):
            attempt.at -= timedelta(minutes=16)
        session.commit()
    assert _sign_in(client) == (303, "signed in")


def test_a_success_resets_the_account_count(dashboard: Dashboard) -> None:
    client = dashboard.client_from("10.0.0.7")
    for _ in range(4):
        _sign_in(client, password="wrong password!")
    assert _sign_in(client) == (303, "signed in")
    for _ in range(4):
        _sign_in(dashboard.client_from("10.0.0.8"), password="wrong password!")
    assert _sign_in(dashboard.client_from("10.0.0.9")) == (303, "signed in")


def test_sign_ins_are_throttled_per_client_address(dashboard: Dashboard) -> None:
    guesser = dashboard.client_from("10.0.0.66")
    for k in range(8):  # a few guesses at each of several accounts, none reaching 5
        _sign_in(guesser, ["li", "wang", "zhao"][k % 3], "wrong password!")
    message = _sign_in(guesser, "wang")[1]
    assert "登录失败次数过多" in message
    assert _sign_in(dashboard.client_from("10.0.0.67"), "wang") == (303, "signed in")
    assert _sign_in(dashboard.client_from("10.0.0.68"), "li") == (303, "signed in")


def test_cookies_are_secure_over_https(dashboard: Dashboard) -> None:
    plain = dashboard.client.get("/dashboard/login").headers["set-cookie"]
    assert "HttpOnly" in plain and "SameSite=Lax" in plain and "Path=/dashboard" in plain
    assert "Secure" not in plain
    https = dashboard.client_from("10.0.0.1", base_url="https://testserver")
    cookie = https.get("/dashboard/login").headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
    assert _sign_in(https) == (303, "signed in")
    assert https.get("/dashboard").status_code == 200
    assert session_policy(
        SimpleNamespace(dashboard_session_hours=1, dashboard_idle_minutes=1, mode="production")
    ).production


def test_a_form_with_text_no_database_stores_is_refused_naming_the_field(dashboard: Dashboard) -> None:
    # a NUL in a sign-in name used to reach PostgreSQL, which cannot store it: a 503
    response = dashboard.client.post(
        "/dashboard/login",
        content=b"username=li%00&password=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "username" and "U+0000" in error["problem"]
    with dashboard.session() as session:  # refused before it was counted as an attempt
        assert session.scalars(select(LoginAttempt)).all() == []
    assert _sign_in(dashboard.client) == (303, "signed in")
