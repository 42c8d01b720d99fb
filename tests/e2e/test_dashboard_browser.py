"""A coordinator's morning in a real browser (Debian's chromium driven by playwright): sign in,
see a match arrive live, read its explanation, compile and publish an agenda, record a meeting
with decisions and actions, lock it, export the minutes; read the live feed in words, page and
sort a list with its filters in the URL, and go from the county view down to a village.
Screenshots go to docs/screenshots/."""

import os
import re
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from services import SERVICES
from sifang.client import Sifang
from sifang.demo import load_demo
from sifang.platform import Platform
from tests.e2e.conftest import add_coordinator

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SCRATCH = Path(tempfile.gettempdir()) / "sifang-screenshots"


def _shot(page: Page, name: str) -> None:
    """Screenshots go to docs/screenshots with SIFANG_UPDATE_SCREENSHOTS=1 (`make screenshots`)."""
    folder = DOCS_SCREENSHOTS if os.environ.get("SIFANG_UPDATE_SCREENSHOTS") == "1" else SCRATCH
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    assert (folder / f"{name}.png").stat().st_size > 10_000  # a real page, not a blank one


def _reload_until(page: Page, selector: str, text: str, failure: str, timeout: float = 30) -> None:
    """Reload the page until ``selector`` shows ``text`` (what the stream brings takes a moment)."""
    deadline = time.monotonic() + timeout
    while text not in page.locator(selector).inner_text():
        assert time.monotonic() < deadline, failure
        page.wait_for_timeout(500)
        page.reload()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_coordinators_morning(platform: Platform, browser: Browser) -> None:
    client = Sifang({s: platform.url(s) for s in SERVICES}, platform.token)
    state: dict[str, Any] = load_demo(client)
    add_coordinator(platform, "zhang", "张主任", "correct horse battery")

    page = browser.new_page(base_url=platform.url("coordinator"), viewport={"width": 1280, "height": 900})
    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/dashboard/login"))
    page.fill("#username", "zhang")
    page.fill("#password", "wrong password!")
    page.click("#sign-in")
    expect(page.locator("#flash")).to_contain_text("用户名或密码错误")
    page.fill("#username", "zhang")
    page.fill("#password", "correct horse battery")
    page.click("#sign-in")
    expect(page.locator("h1")).to_have_text("总览")
    expect(page.locator("#open-needs")).not_to_have_text("0")
    expect(page.locator("#feed")).to_contain_text(  # the feed in words
        f"{state['qinnong']['name']} 就纠纷作了陈述：收购价格与合同纠纷"
    )

    # A new need arrives while the coordinator watches the matches board: its proposal appears live.
    page.click("#nav-matches")
    expect(page.locator("h1")).to_have_text("匹配")
    expect(page.locator("body[data-live='connected']")).to_have_count(1)  # its stream is open
    village = client.stakeholder("community", state["louguan"]["api_key"])
    village.post_need(category="brand.design", title="楼观镇品牌包装", quantity=20, unit="hour")
    client.stakeholder("enterprise", state["qinnong"]["api_key"]).post_offer(
        category="brand.design", title="包装设计服务", quantity=60, unit="hour", service_area=["610124"]
    )
    live = page.locator("tr.match.live").first
    expect(live).to_contain_text("楼观镇品牌包装", timeout=20000)
    expect(live).to_contain_text("平台建议由")  # in words, in the page's language
    page.reload()
    row = page.locator("tr.match", has_text="楼观镇品牌包装").first
    row.locator("summary").click()
    expect(row.locator(".explanation")).to_contain_text("建议由")
    _shot(page, "matches")

    # A need no offer meets: its page says why, offer by offer, in the page's language.
    strict = village.post_need(
        category="brand.design",
        title="楼观镇有机包装",
        quantity=10,
        unit="hour",
        requirements={"required_standards": ["GB/T 40743"]},
    )
    deadline = time.monotonic() + 20
    page.goto(f"/dashboard/needs/{strict['need_id']}")
    diagnosis = page.locator("#diagnosis")
    while not diagnosis.count():  # until the coordinator has the need in its book
        assert time.monotonic() < deadline
        page.wait_for_timeout(300)
        page.reload()
    expect(diagnosis).to_contain_text("没有任何供给通过全部筛选")
    expect(diagnosis.locator("tr", has_text="包装设计服务")).to_contain_text("未达到要求的标准：GB/T 40743")
    _shot(page, "need-diagnosis")
    page.goto(f"/dashboard/needs/{strict['need_id']}?lang=en")
    expect(diagnosis.locator("tr", has_text="包装设计服务")).to_contain_text(
        "does not meet the required standards: GB/T 40743"
    )
    page.goto("/dashboard/matches?lang=zh")

    # The meeting: compile, reorder, publish; attendance, a decision with an action; close.
    page.click("#nav-meetings")
    page.click("a.meeting-link")
    page.click("#compile")
    expect(page.locator("tr.agenda-item").first).to_be_visible()
    first_title = page.locator("tr.agenda-item input[name=title]").nth(0).input_value()
    page.locator("tr.agenda-item").nth(1).get_by_role("button", name="上移").click()
    expect(page.locator("tr.agenda-item input[name=title]").nth(1)).to_have_value(first_title)
    page.click("#publish")
    expect(page.locator("#meeting-status")).to_have_text("议程已发布")
    for box in page.locator("#room input[name=present]").all():
        box.check()
    page.click("#save-attendance")
    expect(page.locator("#quorum")).to_have_text("已达到")
    form = page.locator("form.decision-form").first
    decided_title = form.locator("b").inner_text()
    form.locator("select[name^='position:']").first.select_option("agree")
    form.locator("select[name=outcome]").select_option("approved")
    form.locator("textarea[name=minutes]").fill("会议同意推进")
    form.locator("input[name=action_title]").fill("提交实施方案")
    form.locator("select[name=action_owner]").select_option(state["bureau"]["id"])
    form.locator("input[name=action_due]").fill((datetime.now(UTC) + timedelta(days=14)).date().isoformat())
    # the decision also starts a cross-sector project: the company leads, the cooperative joins
    form.locator("details.project-form summary").click()
    form.locator("input[name=project_title]").fill("县域公用品牌共建")
    for key, role in (("qinnong", "品牌设计与推广"), ("mazhao", "分级供货")):
        form.locator(f"input[name=project_member][value='{state[key]['id']}']").check()
        form.locator(f"input[name='project_role:{state[key]['id']}']").fill(role)
    form.locator("input[name=project_milestone]").fill("品牌方案")
    form.locator("input[name=project_due]").fill((datetime.now(UTC) + timedelta(days=30)).date().isoformat())
    form.locator("button.record-decision").click()
    expect(page.locator("#decisions")).to_contain_text(decided_title)
    expect(page.locator("#decisions")).to_contain_text("张主任")
    _shot(page, "meeting-room")
    page.fill("#closing-minutes", "四方共同推进，下次会议复查。")
    page.click("#close-meeting")
    expect(page.locator("#record h2")).to_have_text("等待各方确认纪要")

    # Every party approves the minutes through its own service; the record locks.
    record_hash = page.locator("#record code").inner_text()
    meeting_id = page.url.rstrip("/").rsplit("/", 1)[1]
    for key, organisation in state.items():
        if isinstance(organisation, dict):
            api = client.stakeholder(organisation["kind"], organisation["api_key"])
            deadline = time.monotonic() + 20
            while not api.meetings() or "record" not in next(
                m for m in api.meetings() if m["meeting_id"] == meeting_id
            ):
                assert time.monotonic() < deadline, key
                time.sleep(0.2)
            api.approve_minutes(meeting_id, record_hash)
    deadline = time.monotonic() + 20
    while "纪要已锁定" not in page.locator("#record h2").inner_text():
        assert time.monotonic() < deadline
        page.wait_for_timeout(300)
        page.reload()
    _shot(page, "meeting-record")
    page.click("#export-html")
    expect(page.locator("h1")).to_contain_text("会议纪要")
    expect(page.locator("body")).to_contain_text(decided_title)
    _shot(page, "minutes")

    page.goto("/dashboard/actions")
    expect(page.locator("#actions")).to_contain_text("提交实施方案")
    page.click("#lang-switch")
    expect(page.locator("h1")).to_have_text("Actions")
    expect(page.locator("#nav-overview")).to_have_text("Overview")
    _shot(page, "actions-en")

    # The county's market: the demo's villages and firm ask for 105 seats of live-stream
    # training against one course of 40: a shortage.
    page.goto("/dashboard/market?lang=zh")
    expect(page.locator("h1")).to_have_text("市场信息")
    _reload_until(page, "#market-signals", "短缺", "the market was never figured")
    row = page.locator("#market-signals tr.signal-shortage").first
    expect(row).to_contain_text("直播")
    expect(row).to_contain_text("105 人")
    expect(row).to_contain_text("需求明显多于供给")
    expect(page.locator("#trend-1 svg.trend rect.first").first).to_be_visible()
    _shot(page, "market")
    page.click("#lang-switch")
    expect(page.locator("h1")).to_have_text("Market")
    expect(page.locator("#market-signals tr.signal-shortage").first).to_contain_text(
        "demand well above supply"
    )
    assert "需求" not in page.locator("#market-signals").inner_text()  # no Chinese left on the English page
    _shot(page, "market-en")

    # The special fund the demo's commerce bureau keeps: its two shares, what they committed and
    # paid, the charts by share, quarter and township, and the allocations with their recipients.
    page.goto("/dashboard/funds?lang=zh")
    expect(page.locator("h1")).to_have_text("专项资金")
    _reload_until(page, "main", "社会工作服务项目", "the fund never reached the coordinator")
    shares = page.locator("#fund-1 table.shares")
    expect(shares).to_contain_text("1,200,000.00")  # the e-commerce share's earmark
    expect(shares).to_contain_text("630,000.00")  # committed: 450,000 + 180,000
    expect(shares).to_contain_text(
        "192,000.00"
    )  # social work: 160,000 less 8,000 repaid, 40,000 to the project
    expect(page.locator("#fund-1 svg.trend rect.second").first).to_be_visible()
    _shot(page, "funds")
    page.click("#fund-1 h2 a")
    expect(page.locator("#fund-allocations")).to_contain_text("马召镇猕猴桃冷链集配中心")
    expect(page.locator("#fund-allocations")).to_contain_text(state["mazhao"]["name"])
    expect(page.locator("#chart-quarters svg rect.first").first).to_be_visible()
    expect(page.locator("#chart-townships svg rect").first).to_be_visible()
    _shot(page, "fund")
    page.click("#lang-switch")
    expect(page.locator("#fund-shares")).to_contain_text("Social-work services")
    assert "份额" not in page.locator("#fund-shares tr").first.inner_text()  # English headers
    _shot(page, "fund-en")

    # The cross-sector project the demo's village runs with the social-work station and the
    # company: active, its training line funded from the fund's social-work share, and its first
    # milestone — due three days ago — overdue once the clock ticks.
    page.goto("/dashboard/projects?lang=zh")
    expect(page.locator("h1")).to_have_text("跨界项目")
    _reload_until(page, "#projects", "楼观镇公益助农直播节", "the project never reached the coordinator")
    decided = page.locator("#projects tr.project", has_text="县域公用品牌共建")
    expect(decided).to_contain_text("进行中")  # decided at the meeting: its members have joined
    expect(decided).to_contain_text(state["qinnong"]["name"])
    row = page.locator("#projects tr.project", has_text="楼观镇公益助农直播节")
    expect(row).to_contain_text("进行中")
    expect(row).to_contain_text(state["station"]["name"])
    row.locator("a").first.click()
    expect(page.locator("h1")).to_have_text("楼观镇公益助农直播节")
    expect(page.locator("#project-members")).to_contain_text("社工陪伴与培训")
    expect(page.locator("#project-budget")).to_contain_text("40,000.00")  # allocated to the line
    _reload_until(page, "#project-milestones", "已逾期", "the overdue milestone was never marked", timeout=75)
    _shot(page, "project")
    page.click("#lang-switch")
    expect(page.locator("#project-milestones")).to_contain_text("overdue")
    expect(page.locator("#project-status")).to_contain_text("the members have joined")
    _shot(page, "project-en")

    # The demo's dispute in mediation: the social-work station mediates, both parties have stated
    # their case, the village accepted the settlement and the company's answer is awaited. A
    # coordinator who opens a new dispute names its mediator from the page.
    page.goto("/dashboard/disputes?lang=zh")
    expect(page.locator("h1")).to_have_text("纠纷调解")
    _reload_until(page, "#disputes", "各方答复方案", "the dispute never reached the answers step")
    page.locator("#disputes tr.dispute a").first.click()
    expect(page.locator("#dispute-mediator")).to_contain_text(state["station"]["name"])
    expect(page.locator("#dispute-status")).to_contain_text(state["qinnong"]["name"])  # whom it waits for
    expect(page.locator("#dispute-settlements")).to_contain_text("接受")
    expect(page.locator("#dispute-history")).to_contain_text("提出调解方案")
    _shot(page, "dispute")
    village = client.stakeholder("community", state["louguan"]["api_key"])
    fresh = village.create("/disputes", title="物流点选址争议", other_parties=[state["coldchain"]["id"]])
    page.goto("/dashboard/disputes?lang=zh")
    _reload_until(page, "#disputes", "物流点选址争议", "the new dispute never reached the coordinator")
    page.locator("#disputes tr.dispute", has_text="物流点选址争议").locator("a").click()
    page.select_option("#assign-mediator select", label=state["youth"]["name"])
    page.click("#assign-mediator button")
    expect(page.locator("#flash")).to_contain_text("指定调解人 ✓")
    expect(page.locator("#dispute-mediator")).to_contain_text(state["youth"]["name"])
    expect(page.locator("#dispute-history")).to_contain_text("张主任")  # who named the mediator
    mediator = client.stakeholder("ngo", state["youth"]["api_key"])
    assert [d["my_part"] for d in mediator.disputes() if d["dispute_id"] == fresh["dispute_id"]] in (
        [],
        ["mediator"],
    )
    page.click("#lang-switch")
    expect(page.locator("#dispute-status")).to_contain_text("the parties' statements")
    _shot(page, "dispute-en")

    # The overview's feed says what happened in words, linked to the item — live, in the page's
    # language: a need posted and withdrawn while the coordinator watches.
    name = state["xicun"]["name"]
    page.goto("/dashboard?lang=en")
    expect(page.locator("#feed")).to_contain_text(
        f"{state['louguan']['name']} raised a dispute: 物流点选址争议"
    )
    assert "sifang." not in page.locator("#feed").inner_text()  # no event types
    expect(page.locator("body[data-live='connected']")).to_have_count(1)  # its stream is open
    xicun = client.stakeholder("community", state["xicun"]["api_key"])
    posted = xicun.post_need(category="venue", title="直播带货培训场地", quantity=2, unit="day")
    line = page.locator("#feed li.new", has_text="直播带货培训场地").first
    expect(line).to_contain_text(f"{name} posted a need: 直播带货培训场地, 2 days", timeout=20000)
    expect(line.locator("a")).to_have_attribute("href", f"/dashboard/needs/{posted['need_id']}")
    page.goto("/dashboard?lang=zh")
    expect(page.locator("#feed")).to_contain_text(f"{name} 发布了需求：直播带货培训场地，2 天")  # on load
    expect(page.locator("body[data-live='connected']")).to_have_count(1)
    xicun.withdraw("need", posted["need_id"], "场地已落实")
    expect(page.locator("#feed li.new").first).to_contain_text(
        f"{name} 撤回了需求：直播带货培训场地", timeout=20000
    )
    _shot(page, "overview")

    # Lists page and sort on the server; the filters, the sort and the page size stay in the URL.
    page.goto("/dashboard/needs?lang=zh&per_page=2&sort=quantity&order=asc")
    expect(page.locator("tr.listing")).to_have_count(2)
    expect(page.locator(".page-info").first).to_contain_text("第 1/")
    page.locator("a.next").first.click()
    expect(page).to_have_url(re.compile(r"page=2"))
    assert "sort=quantity" in page.url and "per_page=2" in page.url
    expect(page.locator("tr.listing")).to_have_count(2)
    page.locator("input[name=region]").fill("610124")
    page.locator("form.panel button").click()
    expect(page).to_have_url(re.compile(r"region=610124"))
    assert "sort=quantity" in page.url and "per_page=2" in page.url and not re.search(r"[?&]page=", page.url)
    page.locator("a[data-sort=title]").click()
    expect(page).to_have_url(re.compile(r"sort=title"))
    assert "region=610124" in page.url
    export = page.locator("a.csv").first.get_attribute("href") or ""
    assert "region=610124" in export and "sort=title" in export and not re.search(r"[?&]page=", export)
    rows = page.request.get(platform.url("coordinator") + export).text().splitlines()
    assert rows[0].startswith("标题,组织,类别") and len(rows) > 3  # every matching need, not one page
    _shot(page, "needs")
    page.click("#lang-switch")
    expect(page.locator(".page-info").first).to_contain_text("Page 1 of")
    assert "region=610124" in page.url and "sort=title" in page.url  # the language switch keeps them
    expect(page.locator("a[data-sort=title]")).to_contain_text("Title")

    # The county view: townships and villages with open needs, matches and fulfilment, and the
    # drill-down to a village.
    page.goto("/dashboard?lang=zh")
    page.click("#nav-county_view")
    expect(page.locator("h1")).to_have_text("县域 · 610124")
    expect(page.locator("#county-places tr.township", has_text="马召镇")).to_be_visible()
    village_row = page.locator("#county-places tr.village", has_text=name)
    expect(village_row).to_contain_text("610124104202")
    expect(page.locator("#chart-needs svg rect").first).to_be_visible()
    _shot(page, "county")
    village_row.locator("a").click()
    expect(page.locator("h1")).to_have_text(name)
    expect(page.locator("#village-needs")).to_contain_text("村级品牌包装设计")
    expect(page.locator("#village-needs")).to_contain_text("40 小时")
    expect(page.locator("#village-organisations")).to_contain_text("村社")
    _shot(page, "village")
    page.click("#lang-switch")
    expect(page.locator("#village-needs")).to_contain_text("40 hours")
    expect(page.locator("#village-organisations")).to_contain_text("community")
    page.goto("/dashboard/county?lang=en")
    expect(page.locator("h1")).to_have_text("County · 610124")
    expect(page.locator("#county-places tr").first).to_contain_text("Confirmed or fulfilled")
    _shot(page, "county-en")
