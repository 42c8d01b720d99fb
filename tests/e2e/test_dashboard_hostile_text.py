"""Hostile text in a real browser: organisations write titles, names and reasons that are HTML and
script; a coordinator walks every dashboard page (the live matches board receiving them included)
and no script runs, no dialog opens, and the text is shown literally. The CSP refuses inline
script even when something injects it."""

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, expect

from services import SERVICES
from sifang.client import Sifang
from sifang.platform import Platform
from tests.e2e.conftest import add_coordinator

IMG = "<img src=x onerror=window.__pwned=1>"
SCRIPT = "<script>window.__pwned=1</script>"
SVG = '<svg onload="window.__pwned=1;alert(1)">'
PASSWORD = "correct horse battery"


def _eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _no_script_ran(page: Page, dialogs: list[Dialog]) -> None:
    assert page.evaluate("typeof window.__pwned") == "undefined", page.url
    assert dialogs == [], page.url
    assert page.evaluate("document.querySelectorAll('script:not([src])').length") == 0, page.url
    assert page.evaluate("document.querySelectorAll('[onerror],[onload]').length") == 0, page.url


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_hostile_text_never_runs_as_script(platform: Platform, browser: Browser) -> None:
    client = Sifang({s: platform.url(s) for s in SERVICES}, platform.token)
    _, village_key = client.register("community", f"南村 {IMG}", "610124105201")
    buyer_org, buyer_key = client.register("enterprise", f"秦农 {SCRIPT}", "610124")
    _, bureau_key = client.register("government", f"商务局 {SVG}", "610124")
    bureau = client.stakeholder("government", bureau_key)
    fund = bureau.create(
        "/funds",
        name=f"专项资金 {SCRIPT}",
        fiscal_year=2026,
        description=IMG,
        shares=[{"share": "s", "name": f"份额 {SVG}", "purpose": "other", "amount": "1000"}],
    )
    bureau.create(f"/funds/{fund['id']}/tranches", received_on="2026-02-01", amounts={"s": "1000"})
    allocation = bureau.create(
        f"/funds/{fund['id']}/allocations",
        share="s",
        amount="900",
        allocated_on="2026-02-02",
        township="610124105",
        purpose=f"用途 {IMG}",
        project=f"项目 {SCRIPT}",
        recipient_name=f"收款 {SVG}",
    )
    bureau.create(
        f"/funds/{fund['id']}/allocations/{allocation['id']}/disbursements",
        amount="500",
        paid_on="2026-02-03",
        evidence=[{"kind": "other", "reference": SCRIPT}],
    )
    village = client.stakeholder("community", village_key)
    buyer = client.stakeholder("enterprise", buyer_key)
    village.propose_agenda_item(title=f"议题 {SCRIPT}", description=IMG)
    dispute = village.create(
        "/disputes", title=f"纠纷 {SCRIPT}", description=IMG, other_parties=[buyer_org["id"]]
    )
    project = village.create(
        "/projects",
        title=f"项目 {IMG}",
        description=SCRIPT,
        role=f"分工 {SVG}",
        members=[{"organisation_id": buyer_org["id"], "role": f"运营 {SCRIPT}"}],
        milestones=[{"title": f"里程碑 {IMG}", "due_date": "2027-01-01"}],
        budget_lines=[{"line": "x", "title": f"科目 {SVG}", "amount": "100"}],
    )
    add_coordinator(platform, "zhang", "张主任", PASSWORD)

    page = browser.new_page(base_url=platform.url("coordinator"), viewport={"width": 1280, "height": 900})
    dialogs: list[Dialog] = []
    violations: list[str] = []

    def opened(dialog: Dialog) -> None:
        dialogs.append(dialog)
        dialog.dismiss()

    def logged(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("dialog", opened)
    page.on("console", logged)
    page.goto("/dashboard/login")
    page.fill("#username", "zhang")
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    expect(page.locator("h1")).to_have_text("总览")

    # The matches board is open when the hostile need and offer arrive: the live row shows them as text.
    page.click("#nav-matches")
    expect(page.locator("h1")).to_have_text("匹配")
    expect(page.locator("body[data-live='connected']")).to_have_count(1)  # its stream is open
    village.post_need(category="brand.design", title=f"包装 {IMG}", quantity=20, unit="hour")
    buyer.post_offer(
        category="brand.design", title=f"设计 {SCRIPT}", quantity=60, unit="hour", service_area=["610124"]
    )
    live = page.locator("tr.match.live").first
    expect(live).to_contain_text(f"包装 {IMG}", timeout=20000)
    expect(live).to_contain_text(f"设计 {SCRIPT}")
    _no_script_ran(page, dialogs)

    # The village declines with a hostile reason; the board hears of it live too.
    match = _eventually(lambda: next(iter(village.matches("proposed")), None))
    village.decline(match["match_id"], reason=f"理由 {SVG} {IMG}")
    expect(page.locator("tr.match.live", has_text="拒绝").first).to_be_visible(timeout=20000)
    _no_script_ran(page, dialogs)

    page.reload()
    row = page.locator("tr.match", has_text=f"包装 {IMG}").first
    expect(row).to_contain_text(f"理由 {SVG} {IMG}")
    expect(row).to_contain_text(f"南村 {IMG}")
    expect(row).to_contain_text(f"秦农 {SCRIPT}")
    row.locator("summary").click()
    expect(row.locator(".explanation")).to_contain_text(f"包装 {IMG}")
    _no_script_ran(page, dialogs)

    # A meeting series and a meeting named by a coordinator who pasted the same text.
    page.click("#nav-meetings")
    form = page.locator("#new-series")
    form.locator("input[name=name]").fill(f"联席会议 {SVG}")
    form.locator("input[name=region]").fill("610124")
    form.locator("button").click()
    expect(page.locator("#flash")).to_have_text("✓")
    schedule = page.locator("form.schedule-form").first
    schedule.locator("input[name=title]").fill(f"一月会议 {IMG}")
    schedule.locator("input[name=starts_at]").fill("2030-01-15T09:30")
    schedule.locator("button").click()
    expect(page.locator("h1")).to_have_text(f"一月会议 {IMG}")
    page.click("#compile")
    expect(page.locator("tr.agenda-item").first).to_be_visible()
    inputs = page.locator("#agenda input[name=title]")
    titles = [inputs.nth(k).input_value() for k in range(inputs.count())]
    assert any(SCRIPT in title for title in titles), titles
    _no_script_ran(page, dialogs)

    # The overview is open when another hostile need arrives: its line in the feed is text.
    page.goto("/dashboard?lang=zh")
    expect(page.locator("body[data-live='connected']")).to_have_count(1)  # its stream is open
    village.post_need(category="venue", title=f"场地 {SCRIPT} {SVG}", quantity=1, unit="day")
    line = page.locator("#feed li.new", has_text="场地").first
    expect(line).to_contain_text(f"南村 {IMG} 发布了需求：场地 {SCRIPT} {SVG}，1 天", timeout=20000)
    _no_script_ran(page, dialogs)
    page.reload()
    expect(page.locator("#feed")).to_contain_text(f"南村 {IMG} 发布了需求：场地 {SCRIPT} {SVG}")
    _no_script_ran(page, dialogs)

    # Every page, in both languages (the project has reached the coordinator).
    _eventually(lambda: page.request.get(f"/dashboard/projects/{project['project_id']}").status == 200)
    _eventually(lambda: page.request.get(f"/dashboard/disputes/{dispute['dispute_id']}").status == 200)
    for path in (
        "/dashboard",
        "/dashboard/matches",
        "/dashboard/needs",
        "/dashboard/offers",
        f"/dashboard/needs/{match['need_id']}",
        f"/dashboard/offers/{match['offer_id']}",
        "/dashboard/meetings",
        "/dashboard/actions",
        "/dashboard?lang=en",
        "/dashboard/matches?lang=en",
        "/dashboard/needs?lang=en&q=" + "%3Cscript%3Ewindow.__pwned%3D1%3C%2Fscript%3E",
        "/dashboard/funds",
        f"/dashboard/funds/{fund['id']}",
        f"/dashboard/funds/{fund['id']}?lang=en",
        "/dashboard/projects",
        f"/dashboard/projects/{project['project_id']}",
        f"/dashboard/projects/{project['project_id']}?lang=en",
        "/dashboard/disputes",
        f"/dashboard/disputes/{dispute['dispute_id']}",
        f"/dashboard/disputes/{dispute['dispute_id']}?lang=en",
        "/dashboard/county?region=610124",
        "/dashboard/county?region=610124&lang=en",
        "/dashboard/village?region=610124105201",
        "/dashboard/village?region=610124105201&lang=en",
        "/dashboard/needs?per_page=1&sort=title&order=desc",
    ):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        assert "script-src 'self'" in (response.header_value("content-security-policy") or "")
        page.wait_for_timeout(200)
        _no_script_ran(page, dialogs)
    page.goto("/dashboard/county?region=610124&lang=zh")
    expect(page.locator("#county-places")).to_contain_text(f"南村 {IMG}")  # the village's name
    expect(page.locator("#chart-needs")).to_contain_text("610124105")
    page.locator("#county-places tr.village a", has_text="南村").click()
    expect(page.locator("h1")).to_have_text(f"南村 {IMG}")
    expect(page.locator("#village-needs")).to_contain_text(f"包装 {IMG}")
    expect(page.locator("#village-matches")).to_contain_text(f"设计 {SCRIPT}")
    _no_script_ran(page, dialogs)
    page.goto("/dashboard/needs?lang=zh")
    expect(page.locator("table")).to_contain_text(f"包装 {IMG}")
    expect(page.locator("table")).to_contain_text(f"南村 {IMG}")
    page.goto("/dashboard/offers")
    expect(page.locator("table")).to_contain_text(f"设计 {SCRIPT}")
    page.goto("/dashboard/meetings")
    expect(page.locator("body")).to_contain_text(f"联席会议 {SVG}")
    expect(page.locator("body")).to_contain_text(f"商务局 {SVG}")
    page.goto(f"/dashboard/funds/{fund['id']}?lang=zh")
    expect(page.locator("h1")).to_have_text(f"专项资金 {SCRIPT}")
    expect(page.locator("#fund-description")).to_have_text(IMG)
    expect(page.locator("#fund-shares")).to_contain_text(f"份额 {SVG}")
    expect(page.locator("#chart-shares")).to_contain_text(f"份额 {SVG}")  # an SVG label, escaped
    expect(page.locator("#fund-allocations")).to_contain_text(f"用途 {IMG}")
    expect(page.locator("#fund-allocations")).to_contain_text(f"项目 {SCRIPT}")
    expect(page.locator("#fund-allocations")).to_contain_text(f"收款 {SVG}")
    _no_script_ran(page, dialogs)
    page.goto(f"/dashboard/projects/{project['project_id']}?lang=zh")
    expect(page.locator("h1")).to_have_text(f"项目 {IMG}")
    expect(page.locator("#project-description")).to_have_text(SCRIPT)
    expect(page.locator("#project-members")).to_contain_text(f"运营 {SCRIPT}")
    expect(page.locator("#project-members")).to_contain_text(f"分工 {SVG}")
    expect(page.locator("#project-milestones")).to_contain_text(f"里程碑 {IMG}")
    expect(page.locator("#project-budget")).to_contain_text(f"科目 {SVG}")
    _no_script_ran(page, dialogs)
    page.goto(f"/dashboard/disputes/{dispute['dispute_id']}?lang=zh")
    expect(page.locator("h1")).to_have_text(f"纠纷 {SCRIPT}")
    expect(page.locator("#dispute-description")).to_have_text(IMG)
    expect(page.locator("#assign-mediator")).to_be_visible()
    _no_script_ran(page, dialogs)

    # The CSP itself: an inline script that something manages to insert does not run.
    page.goto("/dashboard/matches")
    ran = page.evaluate(
        """() => { const s = document.createElement('script'); s.textContent = 'window.__pwned = 1';
                   document.body.append(s); return typeof window.__pwned; }"""
    )
    assert ran == "undefined"
    assert any("script-src" in v for v in violations), violations
    handler = page.evaluate(
        """() => { const d = document.createElement('div'); d.setAttribute('onclick', 'window.__pwned = 1');
                   document.body.append(d); d.click(); return typeof window.__pwned; }"""
    )
    assert handler == "undefined"
    assert dialogs == []
    assert re.search(r"/dashboard/matches", page.url)
