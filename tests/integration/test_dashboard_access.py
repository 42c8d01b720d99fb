"""Only signed-in coordinators reach the dashboard; forms need the session's CSRF token."""

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from services.coordinator.app import CoordinatorSettings, create_app
from services.coordinator.dashboard.accounts import authenticate, create_account
from shared.db import make_engine
from shared.errors import Conflict, InvalidInput
from sifang.platform import LocalNats


@pytest.fixture
def dashboard(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> Iterator[tuple[TestClient, str]]:
    url = service_database("coordinator")
    engine = make_engine(url)
    with Session(engine) as session:
        create_account(session, "li", "李主任", "a long enough password")
        session.commit()
        with pytest.raises(Conflict):
            create_account(session, "li", "x", "another long password")
        with pytest.raises(InvalidInput):
            create_account(session, "wang", "x", "short")
        assert authenticate(session, "li", "wrong password") is None
        assert authenticate(session, "nobody", "a long enough password") is None
    engine.dispose()
    settings = CoordinatorSettings(
        database_url=url, nats_url=nats_server.url, admin_token="dashboard-admin-token-0123"
    )
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client, url


def _csrf(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def test_pages_need_a_signed_in_coordinator(dashboard: tuple[TestClient, str]) -> None:
    client, _ = dashboard
    for path in (
        "/dashboard",
        "/dashboard/matches",
        "/dashboard/meetings",
        "/dashboard/actions",
        "/dashboard/needs",
    ):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/dashboard/login?next=")
    token = _csrf(client, "/dashboard/login")
    forged = client.post(
        "/dashboard/login",
        data={"username": "li", "password": "a long enough password", "csrf": "forged", "next": "/dashboard"},
    )
    assert forged.status_code == 400 and forged.json()["errors"][0]["field"] == "csrf"
    signed_in = client.post(
        "/dashboard/login",
        data={
            "username": "li",
            "password": "a long enough password",
            "csrf": token,
            "next": "/dashboard/actions",
        },
    )
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/dashboard/actions"
    page = client.get("/dashboard/actions?lang=en")
    assert page.status_code == 200 and "李主任" in page.text and "<h1>Actions</h1>" in page.text
    assert client.get("/dashboard/needs").status_code == 200
    sign_out = client.post("/dashboard/logout", data={"csrf": _csrf(client, "/dashboard")})
    assert sign_out.status_code == 303
    assert client.get("/dashboard").status_code == 303


def test_a_coordinator_creates_a_series_and_schedules_a_meeting(dashboard: tuple[TestClient, str]) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from services.coordinator.meetings.models import Meeting, MeetingSeries
    from services.coordinator.registry.models import RegisteredOrganisation

    client, url = dashboard
    engine = make_engine(url)
    with Session(engine) as session:
        for org, kind in (("gov", "government"), ("vil", "community")):
            session.add(
                RegisteredOrganisation(
                    id=org,
                    name=f"{org} 名称",
                    kind=kind,
                    region="610124",
                    contact={},
                    registered_at=datetime.now(UTC),
                )
            )
        session.commit()
    token = _csrf(client, "/dashboard/login")
    client.post(
        "/dashboard/login", data={"username": "li", "password": "a long enough password", "csrf": token}
    )
    page = client.get("/dashboard/meetings")
    assert "gov 名称" in page.text and 'id="new-series"' in page.text
    token = _csrf(client, "/dashboard/meetings")
    bad = client.post(
        "/dashboard/series", data={"csrf": token, "name": "联席会议", "kind": "joint", "region": "61"}
    )
    assert bad.status_code == 303
    assert (
        "6 (GB/T 2260)" in client.get("/dashboard/meetings").text
    )  # the problem is shown, nothing is created
    created = client.post(
        "/dashboard/series",
        data={
            "csrf": token,
            "name": "联席会议",
            "kind": "joint",
            "region": "610124",
            "cadence": "每月",
            "invited": ["gov", "vil"],
        },
    )
    assert created.status_code == 303
    with Session(engine) as session:
        series = session.scalars(select(MeetingSeries)).one()
        assert series.invited == ["gov", "vil"] and series.quorum_kinds == [
            "government",
            "enterprise",
            "ngo",
            "community",
        ]
    when = (datetime.now(UTC) + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")
    scheduled = client.post(
        f"/dashboard/series/{series.id}/meetings",
        data={"csrf": token, "title": "一月会议", "starts_at": when, "location": "县城"},
    )
    assert scheduled.status_code == 303 and scheduled.headers["location"].startswith("/dashboard/meetings/")
    with Session(engine) as session:
        meeting = session.scalars(select(Meeting)).one()
        assert meeting.starts_at.utcoffset() is not None
        assert meeting.starts_at.strftime("%Y-%m-%dT%H:%M") == (
            datetime.fromisoformat(when) - timedelta(hours=8)
        ).strftime("%Y-%m-%dT%H:%M")  # typed in UTC+8
    engine.dispose()
    assert "一月会议" in client.get(scheduled.headers["location"]).text


def test_dashboard_forms_go_through_the_api_handlers_and_show_their_refusals(
    dashboard: tuple[TestClient, str],
) -> None:
    """A bad outcome, a bad date, a meeting without minutes, a match that is not there: each
    form gets the same refusal as the API (shown on the page), never a 500, and stores nothing."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select

    from services.coordinator.meetings.models import Decision, Meeting, MeetingSeries
    from services.coordinator.registry.models import RegisteredOrganisation

    client, url = dashboard
    engine = make_engine(url)
    with Session(engine) as session:
        for org, kind in (("gov", "government"), ("vil", "community")):
            session.add(
                RegisteredOrganisation(
                    id=org, name=org, kind=kind, region="610124", contact={}, registered_at=datetime.now(UTC)
                )
            )
        session.commit()
    token = _csrf(client, "/dashboard/login")
    client.post(
        "/dashboard/login", data={"username": "li", "password": "a long enough password", "csrf": token}
    )
    token = _csrf(client, "/dashboard/meetings")
    client.post(
        "/dashboard/series",
        data={
            "csrf": token,
            "name": "联席会议",
            "kind": "joint",
            "region": "610124",
            "invited": ["gov", "vil"],
        },
    )
    with Session(engine) as session:
        series_id = session.scalars(select(MeetingSeries.id)).one()
    past = client.post(
        f"/dashboard/series/{series_id}/meetings",
        data={"csrf": token, "title": "昨天的会", "starts_at": "2020-01-01T09:00"},
    )
    assert past.status_code == 303 and past.headers["location"] == "/dashboard/meetings"
    assert (
        "starts_at" in client.get("/dashboard/meetings").text
        or "future" in client.get("/dashboard/meetings").text
    )
    garbled = client.post(
        f"/dashboard/series/{series_id}/meetings",
        data={"csrf": token, "title": "无日期", "starts_at": "next tuesday"},
    )
    assert garbled.status_code == 303
    when = (datetime.now(UTC) + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")
    client.post(
        f"/dashboard/series/{series_id}/meetings",
        data={"csrf": token, "title": "一月会议", "starts_at": when},
    )
    with Session(engine) as session:
        meeting_id = session.scalars(select(Meeting.id)).one()  # only the good one was scheduled
    page = f"/dashboard/meetings/{meeting_id}"

    banana = client.post(
        f"{page}/decisions", data={"csrf": token, "item_key": "anything", "outcome": "banana"}
    )
    assert banana.status_code == 303 and banana.headers["location"] == page
    shown = client.get(page).text
    assert "outcome" in shown  # the field the refusal names
    bad_date = client.post(
        f"{page}/decisions",
        data={
            "csrf": token,
            "item_key": "anything",
            "outcome": "approved",
            "action_title": "报送",
            "action_owner": "vil",
            "action_due": "31/02/2027",
        },
    )
    assert bad_date.status_code == 303
    assert "due_date" in client.get(page).text
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Decision)) == 0

    for suffix in ("minutes.html", "minutes.md"):
        missing = client.get(f"{page}/{suffix}")
        assert missing.status_code == 404
        assert missing.json()["errors"][0]["field"] == "meeting_id"

    gone = client.post("/dashboard/matches/no-such-match/withdraw", data={"csrf": token, "reason": "x"})
    assert gone.status_code == 303
    assert "no-such-match" in client.get("/dashboard/matches").text
    engine.dispose()
