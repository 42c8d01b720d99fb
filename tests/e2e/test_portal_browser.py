"""A village committee member's season in the portal of the community service, in a real browser
(Debian's chromium driven by playwright) at a phone's viewport: sign in, post a need (a mistake
first, named in Chinese), accept the proposal the coordinator makes, reply to the joint meeting's
invitation, approve its minutes (shown with their hash), and report progress on the action the
meeting gave the village, with a photo as evidence. Each step is checked where it lands: in the
coordinator, not only on the page. Screenshots go to docs/screenshots/ (`make screenshots`)."""

import hashlib
import struct
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from services import SERVICES
from sifang.client import Sifang
from sifang.demo import DEMO_PASSWORD, load_demo
from sifang.platform import Platform
from tests.e2e.test_dashboard_browser import _shot

PHONE = {"width": 390, "height": 844}


def _png(width: int = 64, height: int = 48) -> bytes:
    """A real (small, green) PNG photo."""
    row = b"\x00" + bytes([31, 111, 67]) * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _eventually(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:.0f} s"
        time.sleep(0.3)
    return found


def _reload_until(page: Page, selector: str, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not page.locator(selector).count():
        assert time.monotonic() < deadline, f"{what} did not appear within {timeout:.0f} s"
        page.wait_for_timeout(500)
        page.reload()


class Coordinator:
    def __init__(self, platform: Platform) -> None:
        self.base = platform.url("coordinator")
        self.headers = {"Authorization": f"Bearer {platform.token}", "X-Coordinator": quote("张主任")}

    def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = httpx.request(method, self.base + path, headers=self.headers, **kwargs)
        assert response.status_code == expect, response.text
        return response.json()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_village_committee_members_season_in_the_portal_on_a_phone(
    platform: Platform, browser: Browser
) -> None:
    client = Sifang({s: platform.url(s) for s in SERVICES}, platform.token)
    state: dict[str, Any] = load_demo(client)
    village_id, station = state["xicun"]["id"], state["station"]
    coordinator = Coordinator(platform)
    # the social-work station offers capacity building the village will ask for
    station_api = client.stakeholder("ngo", station["api_key"])
    station_api.post_offer(
        category="social_service.capacity",
        title="村级电商带头人能力建设",
        quantity=60,
        unit="人",
        service_area=["610124"],
    )

    page = browser.new_page(base_url=platform.url("community"), viewport=PHONE, is_mobile=True)
    page.goto("/portal")
    expect(page.locator("h1")).to_have_text("登录")
    page.fill("#username", "xicun")
    page.fill("#password", DEMO_PASSWORD)
    _shot(page, "portal-sign-in")
    page.click("#sign-in")
    expect(page.locator(".who")).to_contain_text("马召镇西村村民委员会")
    _shot(page, "portal-home")

    # A need, from the phone: a mistake first (the form names the field in Chinese), then right.
    page.click("#new-need")
    page.select_option("#f-category", "social_service.capacity")
    page.fill("#f-title", "村电商带头人培训")
    page.fill("#f-quantity", "三十")
    page.fill("#f-unit", "人")
    page.click("#submit")
    expect(page.locator("#error-quantity")).to_have_text("数量: 必须是数字")
    expect(page.locator("#f-title")).to_have_value("村电商带头人培训")  # what was typed stays
    _shot(page, "portal-need-form")
    page.fill("#f-quantity", "20")
    page.click("#submit")
    expect(page.locator("#flash")).to_contain_text("已发布")
    expect(page.locator(".card", has_text="村电商带头人培训")).to_contain_text("20 人")

    # The coordinator proposes the station's course; the village reads why and accepts.
    page.click("#nav-matches")
    proposal = "div.match:has-text('能力建设')"
    _reload_until(page, proposal, "the proposal")
    card = page.locator(proposal).first
    expect(card.locator(".why")).to_contain_text("建议由")
    _shot(page, "portal-proposal")
    card.locator("button.accept").click()
    expect(page.locator("#flash")).to_contain_text("已提交")
    match_id = (card.get_attribute("id") or "").removeprefix("m-")
    accepted = _eventually(
        lambda: village_id in coordinator.call("GET", f"/matches/{match_id}").get("accepted_by", []),
        "the coordinator counting the village's acceptance",
    )
    assert accepted

    # The joint meeting's invitation: attend.
    meeting_id = state["meeting"]
    page.goto(f"/portal/meetings/{meeting_id}")
    _reload_until(page, "#reply-form", "the invitation")
    expect(page.locator("main")).to_contain_text("北京时间")
    page.check("input[name=answer][value=attend]")
    page.click("#reply")
    expect(page.locator("#flash")).to_contain_text("已提交")
    _eventually(
        lambda: any(
            i["organisation_id"] == village_id and i["reply"] == "attend"
            for i in coordinator.call("GET", f"/meetings/{meeting_id}")["invitations"]
        ),
        "the coordinator seeing the reply",
    )

    # The meeting is held (by the coordinator): a decision gives the village an action; minutes.
    agenda = _eventually(
        lambda: (a := coordinator.call("POST", f"/meetings/{meeting_id}/agenda/compile", 201))["items"] and a,
        "an agenda",
    )
    coordinator.call("POST", f"/meetings/{meeting_id}/agenda/publish")
    for org in {o["id"] for o in state.values() if isinstance(o, dict) and "api_key" in o}:
        coordinator.call(
            "POST",
            f"/meetings/{meeting_id}/attendance",
            json={"organisation_id": org, "present": True, "representative": "代表"},
        )
    due = (datetime.now(UTC) + timedelta(days=14)).date().isoformat()
    decision = coordinator.call(
        "POST",
        f"/meetings/{meeting_id}/decisions",
        201,
        json={
            "item_key": agenda["items"][0]["key"],
            "outcome": "approved",
            "minutes": "同意推进",
            "actions": [{"owner_organisation_id": village_id, "title": "组织村民报名培训", "due_date": due}],
        },
    )
    action_id = decision["actions"][0]["action_id"]
    record = coordinator.call("POST", f"/meetings/{meeting_id}/close", json={"minutes": "四方一致同意。"})

    # The village approves the minutes it reads, naming their hash.
    page.goto(f"/portal/meetings/{meeting_id}")
    _reload_until(page, "#approve", "the minutes")
    expect(page.locator("#record-hash")).to_have_text(record["record_hash"])
    expect(page.locator("#minutes")).to_contain_text("四方一致同意。")
    _shot(page, "portal-minutes")
    page.click("#approve")
    expect(page.locator("#flash")).to_contain_text("已提交")
    _eventually(
        lambda: (
            village_id
            in coordinator.call("GET", f"/meetings/{meeting_id}/record")["records"][0]["approved_by"]
        ),
        "the coordinator counting the approval",
    )

    # Progress on its action, with a photo taken on the phone.
    page.click("#nav-actions")
    _reload_until(page, f"#a-{action_id}", "the action item")
    photo = _png()
    form = page.locator(f"#a-{action_id} form.progress-form")
    form.locator("select[name=status]").select_option("in_progress")
    form.locator("textarea[name=note]").fill("已有 18 户报名")
    form.locator("input[name=evidence]").set_input_files(
        files=[{"name": "报名现场.png", "mimeType": "image/png", "buffer": photo}]
    )
    form.locator("button").click()
    expect(page.locator("#flash")).to_contain_text("已提交")
    progressed = _eventually(
        lambda: [
            p
            for a in coordinator.call("GET", "/actions")
            if a["action_id"] == action_id
            for p in a["progress"]
            if p["note"] == "已有 18 户报名"
        ],
        "the coordinator recording the progress",
    )
    digest = hashlib.sha256(photo).hexdigest()
    assert progressed[0]["evidence_url"] == f"/evidence/{digest}"
    served = httpx.get(platform.url("community") + progressed[0]["evidence_url"])
    assert served.content == photo and served.headers["content-type"] == "image/png"
    # the portal shows the village's own service's copy, updated when the coordinator's event is back
    _reload_until(page, f"#a-{action_id}:has-text('已有 18 户报名')", "the progress at the village's service")
    expect(page.locator(f"#a-{action_id}")).to_contain_text("已有 18 户报名")
    _shot(page, "portal-progress")

    # The same portal in English: the page's words change, the organisation's own words do not.
    page.goto("/portal?lang=en")
    expect(page.locator("#nav-matches")).to_have_text("Proposals")
    expect(page.locator("h1")).to_have_text("Home")
    _shot(page, "portal-home-en")
    page.click("#new-need")
    expect(page.locator("h1")).to_have_text("Post a need")
    page.fill("#f-title", "Packaging design")
    page.fill("#f-quantity", "ten")
    page.fill("#f-unit", "hour")
    page.click("#submit")
    expect(page.locator("#error-quantity")).to_have_text("Quantity: must be a number")
    expect(page.locator("label[for=f-unit] + input + .help")).to_contain_text("e.g.")
    page.click("#nav-matches")
    expect(page.locator(f"#m-{match_id} .why")).to_contain_text("Proposes 20 people")
