"""The overview's feed in words, in Chinese and in English, linked to the item; the same lines
on the live stream; times in Beijing time with the zone named, minutes included."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from services.coordinator.dashboard.feed import Happening, feed_lines, narrated
from services.coordinator.meetings.exports import minutes_html, minutes_markdown
from shared.db import make_engine
from sifang.platform import LocalNats
from tests.integration.dashboard_fixtures import listing, logged, match, organisation, signed_in


@pytest.fixture
def dashboard(
    service_database: Callable[[str], str], nats_server: LocalNats
) -> Iterator[tuple[TestClient, str]]:
    with signed_in(service_database, nats_server) as client_and_url:
        yield client_and_url


def test_the_feed_says_what_happened_in_words_linked_to_the_item(dashboard: tuple[TestClient, str]) -> None:
    client, url = dashboard
    engine = make_engine(url)
    with Session(engine) as session:
        xicun = organisation(session, "马召镇西村村民委员会", "community", "610124104202")
        school = organisation(session, "秦岭电商学校", "ngo", "610124")
        need = listing(session, "need", xicun, "村民直播带货培训")
        offer = listing(session, "offer", school, "直播带货实训课", kind="ngo")
        match_id = match(session, need, offer, xicun, school, "proposed", region="610124104202")
        data = {"need_id": need, "organisation_id": xicun, "title": "村民直播带货培训", "quantity": "30"}
        logged(
            session, "sifang.need.published.v1", xicun, need, data | {"unit": "人", "category": "training"}
        )
        logged(session, "sifang.need.withdrawn.v1", xicun, need, {"need_id": need, "organisation_id": xicun})
        logged(session, "sifang.clock.ticked.v1", "coordinator", "tick", {})
        logged(
            session,
            "sifang.match.accepted.v1",
            school,
            match_id,
            {"match_id": match_id, "organisation_id": school},
        )
        session.commit()

    zh = unescape(client.get("/dashboard?lang=zh").text)
    assert "马召镇西村村民委员会 发布了需求：村民直播带货培训，30 人" in zh
    assert "马召镇西村村民委员会 撤回了需求：村民直播带货培训" in zh  # the title from the book
    assert "秦岭电商学校 接受了匹配建议：村民直播带货培训" in zh
    assert f'<a href="/dashboard/needs/{need}">' in zh  # linked to the need
    assert "sifang." not in zh and need not in zh.replace(f"/dashboard/needs/{need}", "")  # no types, no ids
    assert '实时动态 <span class="muted">(北京时间)</span>' in zh
    assert "03-05 09:3" in zh  # 01:3x UTC is 09:3x Beijing time
    en = unescape(client.get("/dashboard?lang=en").text)
    assert "马召镇西村村民委员会 posted a need: 村民直播带货培训, 30 people" in en
    assert "秦岭电商学校 accepted a proposal: 村民直播带货培训" in en
    assert "(CST)" in en

    # The stream's lines are the same sentences, from the event as the stream carries it.
    event = {
        "type": "sifang.offer.published.v1",
        "source": f"/sifang/ngo/{school}",
        "subject": offer,
        "time": "2026-03-05T02:00:00+00:00",
        "data": {"offer_id": offer, "title": "直播带货实训课", "quantity": "40", "unit": "seat"},
    }
    with Session(engine) as session:
        [line] = feed_lines(session, [Happening.of_payload(7, event)], "zh")
        [english] = feed_lines(session, [Happening.of_payload(7, event)], "en")
    assert (line.text, line.link, line.time) == (
        "秦岭电商学校 发布了供给：直播带货实训课，40 个座位",
        f"/dashboard/offers/{offer}",
        "03-05 10:00",
    )
    assert english.text == "秦岭电商学校 posted an offer: 直播带货实训课, 40 seats"
    assert line.as_json()["entity"] == "offer"

    # On the stream, each event is followed by its line, an SSE event named "feed".
    async def chunks() -> AsyncIterator[str]:
        yield ": connected\n\n"
        yield f"id: 7\ndata: {json.dumps(event)}\n\n"
        yield f"id: 8\ndata: {json.dumps(event | {'type': 'sifang.clock.ticked.v1'})}\n\n"

    async def streamed() -> list[str]:
        return [str(chunk) async for chunk in narrated(chunks(), sessionmaker(engine), "zh")]

    sent = asyncio.run(streamed())
    assert sent[2].startswith("event: feed\ndata: ")
    assert json.loads(sent[2].split("data: ", 1)[1]) == line.as_json()
    assert len(sent) == 4  # the clock's tick has no line

    # Odd events get no line, and the stream goes on past them to the next good one.
    odd = [
        event | {"type": "sifang.match.proposed.v1", "data": {"explanation": "not a mapping", "match_id": 3}},
        event | {"data": ["a", "list"]},
        ["not", "an", "event"],
    ]

    async def odd_chunks() -> AsyncIterator[str]:
        for position, strange in enumerate(odd, 20):
            yield f"id: {position}\ndata: {json.dumps(strange)}\n\n"
        yield f"id: 30\ndata: {json.dumps(event)}\n\n"

    async def odd_streamed() -> list[str]:
        return [str(chunk) async for chunk in narrated(odd_chunks(), sessionmaker(engine), "zh")]

    after_odd = asyncio.run(odd_streamed())
    assert after_odd[-1].startswith("event: feed\ndata: ") and "直播带货实训课" in after_odd[-1]

    # The need's history reads the same way.
    history = unescape(client.get(f"/dashboard/needs/{need}?lang=zh").text)
    assert "马召镇西村村民委员会 发布了需求：村民直播带货培训，30 人" in history
    assert "sifang.need" not in history
    engine.dispose()


def test_minutes_print_beijing_time_with_the_zone_named() -> None:
    content = {
        "meeting": {
            "id": "m",
            "title": "三月联席会议",
            "series": "周至县联席会议",
            "kind": "joint",
            "region": "610124",
            "starts_at": "2026-03-05T01:30:00+00:00",
            "location": "县政府",
        },
        "quorum": {"met": True},
        "attendance": [],
        "decisions": [],
        "actions": [],
        "minutes": "",
    }
    amendment = [{"at": "2026-03-06T16:15:00+00:00", "text": "更正", "reason": "笔误"}]
    markdown = minutes_markdown(content, "h", {}, "zh", amendment)
    assert "- 时间: 2026-03-05 09:30 北京时间" in markdown
    assert "2026-03-07 00:15 北京时间: 更正" in markdown  # the next day in Beijing
    assert "01:30" not in markdown and "+00:00" not in markdown
    assert "Time: 2026-03-05 09:30 CST" in minutes_markdown(content, "h", {}, "en")
    page = minutes_html(content, "h", {}, "zh", amendment)
    assert "时间: 2026-03-05 09:30 北京时间" in page and "+00:00" not in page


HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def test_hostile_names_and_titles_stay_text_in_the_feed_the_county_and_the_csv(
    dashboard: tuple[TestClient, str], backend: str
) -> None:
    client, url = dashboard
    nul = "\x00" if backend == "sqlite" else ""  # PostgreSQL's text holds no NUL; SQLite's does
    engine = make_engine(url)
    with Session(engine) as session:
        village = organisation(session, f"村{nul} {HOSTILE}", "community", "610124104202")
        need = listing(session, "need", village, f"={HOSTILE}{nul}")
        logged(
            session,
            "sifang.need.published.v1",
            village,
            need,
            {"need_id": need, "title": f"={HOSTILE}{nul}", "quantity": "1", "unit": f"{HOSTILE}"},
        )
        session.commit()
    pages = [
        client.get(path).text
        for path in ("/dashboard", "/dashboard/county", "/dashboard/village?region=610124104202")
    ]
    for page in pages:
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    with Session(engine) as session:
        event = {
            "type": "sifang.need.published.v1",
            "subject": need,
            "data": {"title": HOSTILE + nul, "organisation_id": village},
        }
        [line] = feed_lines(session, [Happening.of_payload(1, event)], "zh")
    assert (
        line.text == f"村{nul} {HOSTILE} 发布了需求：{HOSTILE}{nul}，"
    )  # plain text: the script sets textContent
    export = client.get("/dashboard/needs.csv").text.splitlines()[1]
    assert export.startswith("'=<script>")  # formula-safe, and text
    engine.dispose()
