"""The county view: townships and villages with their open needs, matches and fulfilment (and
its chart), and the drill-down to one village."""

import re
from collections.abc import Callable, Iterator
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from services.coordinator.dashboard.stats import overview
from shared.db import make_engine
from sifang.platform import LocalNats
from tests.integration.dashboard_fixtures import listing, match, organisation, signed_in


@pytest.fixture
def dashboard(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> Iterator[tuple[TestClient, str]]:
    with signed_in(service_database, nats_server) as client_and_url:
        yield client_and_url


def test_the_county_by_township_and_village_and_a_village_page(dashboard: tuple[TestClient, str]) -> None:
    client, url = dashboard
    engine = make_engine(url)
    with Session(engine) as session:
        xicun = organisation(session, "马召镇西村村民委员会", "community", "610124104202")
        dongcun = organisation(session, "马召镇东村猕猴桃专业合作社", "community", "610124104201")
        nancun = organisation(session, "楼观镇南村果业合作社", "community", "610124105201")
        school = organisation(session, "秦岭电商学校", "ngo", "610124")
        organisation(session, "邻县某村", "community", "610125100201")  # another county
        offer = listing(session, "offer", school, "直播实训课", kind="ngo", region="610124")
        needs = [listing(session, "need", xicun, f"西村需求 {k}") for k in range(3)]
        listing(session, "need", xicun, "已撤回的需求", status="withdrawn")
        listing(session, "need", dongcun, "东村需求", region="610124104201")
        listing(session, "need", nancun, "南村需求", region="610124105201")
        for need, status in zip(needs, ("proposed", "confirmed", "fulfilled"), strict=True):
            match(session, need, offer, xicun, school, status, region="610124104202")
        session.commit()
    engine.dispose()

    page = unescape(client.get("/dashboard/county?region=610124&lang=zh").text)
    assert 'id="nav-county_view"' in page
    rows = re.findall(
        r'<tr class="(township|village)"><t[hd]>(.*?)</t[hd]><td>(\d+)</td>((?:<td[^>]*>[^<]*</td>)+)</tr>',
        page,
    )
    table = {
        (kind, re.sub(r"<[^>]+>|&nbsp;|\xa0", "", name).strip(), code): re.findall(
            r"<td[^>]*>([^<]*)</td>", cells
        )
        for kind, name, code, cells in rows
    }
    assert table[("township", "马召镇", "610124104")] == ["4", "0", "1", "2", "67%"]
    assert table[("village", "马召镇西村村民委员会", "610124104202")] == ["3", "0", "1", "2", "67%"]
    assert table[("village", "马召镇东村猕猴桃专业合作社", "610124104201")] == ["1", "0", "0", "0", "—"]
    assert table[("township", "楼观镇", "610124105")] == ["1", "0", "0", "0", "—"]
    assert not any(code.startswith("610125") for _, _, code in table)  # another county's village
    assert '<b id="county-needs">5</b>' in page and '<b id="county-fulfilment">67%</b>' in page
    chart = page.split('id="chart-fulfilment"')[1].split("</section>")[0]
    assert "<svg" in chart and "马召镇西村村民委员会: 1" in chart and "马召镇西村村民委员会: 2" in chart
    assert 'href="/dashboard/village?region=610124104202"' in page
    english = client.get("/dashboard/county?region=610124&lang=en").text
    assert "Confirmed or fulfilled" in english and "已确认" not in english

    village = unescape(client.get("/dashboard/village?region=610124104202&lang=zh").text)
    assert "<h1>马召镇西村村民委员会</h1>" in village
    needs_table = village.split('id="village-needs"')[1].split("</table>")[0]
    assert needs_table.count("西村需求") == 3 and "已撤回的需求" not in needs_table  # open ones only
    assert "30 人" in needs_table
    matches = village.split('id="village-matches"')[1].split("</table>")[0]
    assert {"待确认", "已确认", "已履约"} <= set(re.findall(r'class="tag [a-z]+">([^<]+)<', matches))
    assert 'href="/dashboard/needs?region=610124104202&status=open"' in village  # the full, paged list
    assert client.get("/dashboard/village?region=abc").status_code == 422


def test_the_overview_figures_are_counted_in_sql(dashboard: tuple[TestClient, str]) -> None:
    client, url = dashboard
    engine = make_engine(url)
    with Session(engine) as session:
        xicun = organisation(session, "马召镇西村村民委员会", "community", "610124104202")
        firm = organisation(session, "秦农电商有限公司", "enterprise", "610124")
        needs = [listing(session, "need", xicun, f"需求 {k}") for k in range(3)]
        listing(session, "need", xicun, "撤回", status="withdrawn")
        listing(
            session, "need", firm, "企业需求", category="brand.design", region="610124", kind="enterprise"
        )
        offer = listing(session, "offer", firm, "课程", kind="enterprise", region="610124")
        for need, status in zip(needs, ("proposed", "confirmed", "fulfilled"), strict=True):
            match(session, need, offer, xicun, firm, status, region="610124104202")
        session.commit()
        statements: list[str] = []
        listen = (Engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        event.listen(*listen)
        try:
            figures = overview(session)
        finally:
            event.remove(*listen)
    engine.dispose()
    assert figures["open_needs"] == 4 and figures["open_offers"] == 1
    assert figures["match_rate"] == 75 and figures["fulfilment_rate"] == 50 and figures["median_hours"] == 0.0
    assert figures["needs_by_kind"] == [("community", 3), ("enterprise", 1)]
    assert figures["by_category"] == [("training", 3), ("brand", 1)]
    assert figures["by_village"] == [("马召镇西村村民委员会", 3)]
    assert dict(figures["by_state"])["confirmed"] == 1
    book_reads = [s for s in statements if "FROM book_needs" in s and "JOIN" not in s]
    assert book_reads and all("count(" in s.lower() for s in book_reads)  # no need is loaded whole
    assert "75%" in client.get("/dashboard").text
