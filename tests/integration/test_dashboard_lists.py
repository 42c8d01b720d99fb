"""The dashboard's lists page and sort in SQL, keep their filters in every link, and export
every matching row as CSV (formula-safe)."""

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from services.coordinator.dashboard import paging
from services.coordinator.funds.models import LedgerFund, LedgerShare
from services.coordinator.mediation.models import Dispute
from services.coordinator.projects.models import Project
from shared.db import make_engine
from sifang.platform import LocalNats
from tests.integration.dashboard_fixtures import T0, listing, match, organisation, signed_in


@pytest.fixture
def dashboard(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> Iterator[tuple[TestClient, str]]:
    with signed_in(service_database, nats_server) as client_and_url:
        yield client_and_url


def _book(url: str) -> dict[str, str]:
    """120 needs of one village (quantity 1..120, published one minute apart), 5 of another
    whose titles a spreadsheet would run as formulas, and matches between them."""
    engine = make_engine(url)
    with Session(engine) as session:
        xicun = organisation(session, "马召镇西村村民委员会", "community", "610124104202")
        other = organisation(session, "楼观镇南村果业合作社", "community", "610124105201")
        needs = [
            listing(
                session, "need", xicun, f"培训需求 {k:03d}", quantity=str(k), at=T0 + timedelta(minutes=k)
            )
            for k in range(1, 121)
        ]
        for k in range(5):
            listing(session, "need", other, f'=HYPERLINK("http://x","{k}")', region="610124105201")
        offer = listing(session, "offer", other, "直播实训课", kind="community")
        for k in range(7):
            match(
                session,
                needs[k],
                offer,
                xicun,
                other,
                "proposed" if k % 2 else "confirmed",
                region="610124104202",
            )
        session.commit()
    engine.dispose()
    return {"xicun": xicun, "other": other}


def _rows(page: str) -> list[str]:
    return [
        unescape(title) for title in re.findall(r'<tr class="listing"><td><a href="[^"]+">([^<]*)</a>', page)
    ]


def test_needs_page_and_sort_in_sql_and_keep_their_filters(dashboard: tuple[TestClient, str]) -> None:
    client, url = dashboard
    _book(url)
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        first = client.get("/dashboard/needs?lang=zh")
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert first.status_code == 200
    assert len(_rows(first.text)) == paging.PER_PAGE
    assert _rows(first.text)[0] == "培训需求 120"  # newest first by default
    assert "第 1/3 页 · 第 1–50 条，共 125 条" in first.text
    reads = [s for s in statements if "FROM book_needs" in s and "count(" not in s.lower()]
    assert reads and all("LIMIT" in s for s in reads)  # the page is cut in SQL, not in Python

    path = (
        "/dashboard/needs?q=%E5%9F%B9%E8%AE%AD&region=610124104202&sort=quantity&order=asc&per_page=10&page=2"
    )
    page = client.get(path).text
    assert _rows(page) == [f"培训需求 {k:03d}" for k in range(11, 21)]
    assert "第 2/12 页 · 第 11–20 条，共 120 条" in page
    links = {unescape(link) for link in re.findall(r'href="(/dashboard/needs\?[^"]+)"', page)}
    prev = "/dashboard/needs?q=%E5%9F%B9%E8%AE%AD&region=610124104202&sort=quantity&order=asc&per_page=10"
    assert prev in links  # the previous page keeps every filter
    assert prev + "&page=3" in links
    by_title = "/dashboard/needs?q=%E5%9F%B9%E8%AE%AD&region=610124104202&sort=title&order=asc&per_page=10"
    assert by_title in links  # a column header: sorted by it, from page 1, filters kept
    assert prev.replace("order=asc", "order=desc") in links  # the sorted column's header turns the order
    for hidden in ('name="sort" value="quantity"', 'name="order" value="asc"', 'name="per_page" value="10"'):
        assert hidden in page  # the filter form keeps the sort and the page size
    last = client.get(path.replace("page=2", "page=99")).text
    assert _rows(last) == [f"培训需求 {k:03d}" for k in range(111, 121)]  # past the end: the last page
    assert client.get("/dashboard/needs?per_page=0").status_code == 422


def test_every_matching_row_goes_to_the_csv_in_order_and_formula_safe(
    dashboard: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, url = dashboard
    _book(url)
    monkeypatch.setattr(paging, "BATCH", 25)  # several batches
    page = client.get("/dashboard/needs?region=610124104202&sort=quantity&order=desc&per_page=10").text
    link = unescape(re.findall(r'href="(/dashboard/needs\.csv\?[^"]+)"', page)[0])
    assert "region=610124104202" in link and "sort=quantity" in link and "page=" not in link
    response = client.get(link)
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:4] == ["标题", "组织", "类别", "数量"]
    assert [r[0] for r in rows[1:]] == [f"培训需求 {k:03d}" for k in range(120, 0, -1)]  # all, not one page
    assert rows[1][4] == "人" and rows[1][1] == "马召镇西村村民委员会"

    english = list(
        csv.reader(io.StringIO(client.get("/dashboard/needs.csv?region=610124105201&lang=en").text))
    )
    assert english[0][:2] == ["Title", "Organisation"] and len(english) == 6
    assert all(r[0].startswith("'=HYPERLINK") for r in english[1:])  # a spreadsheet shows it as text


def test_every_list_pages_and_exports(dashboard: tuple[TestClient, str]) -> None:
    client, url = dashboard
    _book(url)
    page = client.get("/dashboard/matches?status=proposed&per_page=2&lang=zh").text
    assert page.count('<tr class="match"') == 2 and "共 3 条" in page
    assert (
        'href="/dashboard/matches?status=proposed&amp;sort=updated&amp;order=desc&amp;per_page=2&amp;page=2"'
        in page
    )
    matches = list(csv.reader(io.StringIO(client.get("/dashboard/matches.csv?status=proposed").text)))
    assert len(matches) == 4 and {r[7] for r in matches[1:]} == {"待确认"}
    assert {r[0] for r in matches[1:]} <= {f"培训需求 {k:03d}" for k in range(1, 8)}
    for name in ("offers", "meetings", "actions", "projects", "disputes", "funds"):
        assert client.get(f"/dashboard/{name}?sort=no-such-column&order=asc").status_code == 200, name
        export = client.get(f"/dashboard/{name}.csv?lang=en")
        assert export.status_code == 200 and export.text.endswith("\r\n"), name
        assert export.headers["content-type"].startswith("text/csv"), name
    offers = list(csv.reader(io.StringIO(client.get("/dashboard/offers.csv?lang=en").text)))
    assert [r[0] for r in offers[1:]] == ["直播实训课"]


def test_search_takes_percent_and_underscore_literally_and_filter_forms_keep_hidden_filters(
    dashboard: tuple[TestClient, str],
) -> None:
    client, url = dashboard
    _book(url)
    everything = client.get("/dashboard/needs?per_page=500").text.count('<tr class="listing')
    assert everything > 0
    assert client.get("/dashboard/needs?q=%25&per_page=500").text.count('<tr class="listing') == 0
    assert client.get("/dashboard/needs?category=_&per_page=500").text.count('<tr class="listing') == 0
    # a filter the form does not show (region on the disputes page) rides along as a hidden field
    form = client.get("/dashboard/disputes?region=610124").text
    assert '<input type="hidden" name="region" value="610124">' in form
    actions = client.get("/dashboard/actions?meeting_id=m-1").text
    assert '<input type="hidden" name="meeting_id" value="m-1">' in actions


def _projects_disputes_funds(url: str, xicun: str, other: str) -> None:
    """A project, a dispute and a fund in each of the two villages (西村 104202, 南村 105201)."""
    engine = make_engine(url)
    with Session(engine) as session:
        for k, (org, region, project, dispute) in enumerate(
            [
                (xicun, "610124104202", "active", "awaiting_mediator"),
                (other, "610124105201", "proposed", "settled"),
            ]
        ):
            village = "西村" if k == 0 else "南村"
            session.add(
                Project(
                    id=f"project-{k}",
                    title=f"{village}项目",
                    description="",
                    region=region,
                    lead_organisation_id=org,
                    origin={"kind": "party"},
                    series_id=None,
                    status=project,
                    status_reason={},
                    members=[],
                    milestones=[],
                    budget_lines=[],
                    closing=None,
                    next_due=None,
                    created_at=T0,
                    updated_at=T0,
                    version=1,
                )
            )
            session.add(
                Dispute(
                    id=f"dispute-{k}",
                    title=f"{village}纠纷",
                    description="",
                    region=region,
                    raised_by=org,
                    parties=[org],
                    mediator=None,
                    mediator_since=None,
                    status=dispute,
                    raised_at=T0,
                    statements=[],
                    settlements=[],
                    reminders=[],
                    history=[],
                    escalation=None,
                    record_id=None,
                    next_check=None,
                    updated_at=T0,
                    version=1,
                )
            )
            session.add(
                LedgerFund(
                    id=f"fund-{k}",
                    organisation_id=org,
                    name=f"{village}资金",
                    fiscal_year=2026,
                    region=region,
                    description="",
                    version=1,
                    opened_at=T0,
                )
            )
            session.flush()
            session.add(
                LedgerShare(
                    fund_id=f"fund-{k}", share="s", position=0, name="培训", purpose="training", planned=100
                )
            )
        session.commit()
    engine.dispose()


def test_each_csv_takes_the_filters_of_its_page(dashboard: tuple[TestClient, str]) -> None:
    client, url = dashboard
    organisations = _book(url)
    _projects_disputes_funds(url, organisations["xicun"], organisations["other"])

    def firsts(path: str) -> list[str]:
        response = client.get(path)
        assert response.status_code == 200, path
        return sorted(row[0] for row in list(csv.reader(io.StringIO(response.text)))[1:])

    assert len(firsts("/dashboard/matches.csv?status=confirmed&region=610124104")) == 4
    assert firsts("/dashboard/matches.csv?region=610124105") == []
    for name, noun in (("projects", "项目"), ("disputes", "纠纷"), ("funds", "资金")):
        assert firsts(f"/dashboard/{name}.csv") == [f"南村{noun}", f"西村{noun}"], name
        assert firsts(f"/dashboard/{name}.csv?region=610124104") == [f"西村{noun}"], name
    assert firsts("/dashboard/projects.csv?status=proposed") == ["南村项目"]
    assert firsts("/dashboard/disputes.csv?status=settled&region=610124105") == ["南村纠纷"]
    assert firsts("/dashboard/disputes.csv?status=settled&region=610124104") == []

    page = client.get("/dashboard/projects?status=active&region=610124104").text
    link = unescape(re.findall(r'href="(/dashboard/projects\.csv\?[^"]+)"', page)[0])
    assert "status=active" in link and "region=610124104" in link
    assert firsts(link) == ["西村项目"]

    # what a page refuses, its CSV refuses too
    for refused in (
        "projects.csv?status=paused",
        "disputes.csv?status=open",
        "funds.csv?region=6101x",
        "matches.csv?region=6101241042021",
        "meetings.csv?status=" + "s" * 21,
        "actions.csv?meeting_id=" + "m" * 37,
    ):
        assert client.get(f"/dashboard/{refused}").status_code == 422, refused
