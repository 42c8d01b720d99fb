"""No English on the Chinese pages: a coordinator walks every dashboard page of the demo county
in Chinese, and the text shown holds no English word but the proper names and codes of the
allow-list. (The English pages are checked for leftover Chinese labels in the browser test.)"""

import re
import time

import pytest
from playwright.sync_api import Browser, Page

from services import SERVICES
from sifang.client import Sifang
from sifang.demo import load_demo
from sifang.platform import Platform
from tests.e2e.conftest import add_coordinator

# Names and codes that are the same in every language: formats and standards, the env variable
# an operator sets, the language switch ("English"), and what organisations wrote in Latin letters.
ALLOWED = {
    "CSV", "JSON", "HTML", "Markdown", "iCalendar", "English", "GB", "T", "COORDINATOR_PROVINCE_URL",
    "SVG", "UTC",
    "coordinator",  # the partition's durable consumer, an identifier (the province page)
}  # fmt: skip
WORD = re.compile(r"[A-Za-z][A-Za-z_]+")
URL = re.compile(r"https?://\S+")  # evidence links the parties gave
CODE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\b[0-9a-f]{16,}\b")


def _english(page: Page) -> list[str]:
    shown = CODE.sub(" ", URL.sub(" ", page.locator("body").inner_text()))
    words = sorted({word for word in WORD.findall(shown) if word not in ALLOWED})
    return words


def _first_link(page: Page, selector: str) -> str:
    href = page.locator(selector).first.get_attribute("href")
    assert href, selector
    return href


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_chinese_page_is_chinese(platform: Platform, browser: Browser) -> None:
    client = Sifang({s: platform.url(s) for s in SERVICES}, platform.token)
    state = load_demo(client)
    add_coordinator(platform, "zhang", "张主任", "correct horse battery")
    page = browser.new_page(base_url=platform.url("coordinator"), viewport={"width": 1280, "height": 900})
    page.goto("/dashboard/login?lang=zh")
    page.fill("#username", "zhang")
    page.fill("#password", "correct horse battery")
    page.click("#sign-in")
    page.wait_for_url("**/dashboard")

    for path, selector in (
        ("/dashboard/disputes", "#disputes tr.dispute a"),
        ("/dashboard/projects", "#projects tr.project a"),
    ):
        deadline = time.monotonic() + 60  # the demo's dispute and project reach the coordinator
        page.goto(f"{path}?lang=zh")
        while not page.locator(selector).count():
            assert time.monotonic() < deadline, f"{path}: the demo never reached the coordinator"
            page.wait_for_timeout(500)
            page.reload()

    paths = [
        "/dashboard",
        "/dashboard/county",
        "/dashboard/matches",
        "/dashboard/needs",
        "/dashboard/offers",
        "/dashboard/meetings",
        "/dashboard/actions",
        "/dashboard/market",
        "/dashboard/projects",
        "/dashboard/disputes",
        "/dashboard/funds",
        "/dashboard/province",
    ]
    found: dict[str, list[str]] = {}
    for path in paths:
        page.goto(f"{path}?lang=zh")
        found[path] = _english(page)
        for list_page, detail in (
            ("/dashboard/county", "#county-places tr.village a"),
            ("/dashboard/needs", "tr.listing a"),
            ("/dashboard/offers", "tr.listing a"),
            ("/dashboard/meetings", "a.meeting-link"),
            ("/dashboard/projects", "#projects tr.project a"),
            ("/dashboard/disputes", "#disputes tr.dispute a"),
            ("/dashboard/funds", "section.fund h2 a"),
        ):
            if path == list_page:
                href = _first_link(page, detail)
                page.goto(href)
                found[href] = _english(page)
    assert (
        state["xicun"]["name"]
        in page.context.request.get(  # the drill-down names the village
            platform.url("coordinator") + "/dashboard/village?region=610124104202&lang=zh"
        ).text()
    )
    english = {path: words for path, words in found.items() if words}
    assert not english, "English words on Chinese pages: " + repr(english)
