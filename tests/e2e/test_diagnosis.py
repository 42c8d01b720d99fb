"""A party asks its own service why its need is not matched; the service asks the coordinator
with the token ``make run`` gave it (the platform as separate processes, SQLite)."""

import time
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from sifang.platform import Platform
from tests.e2e.parties import post, register

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


def test_an_enterprise_learns_why_its_subsidy_need_is_not_matched(platform: Platform) -> None:
    bureau = register(platform, "government", "周至县商务局", region="610124")
    programme = post(
        platform,
        "government",
        "/programmes",
        bureau,
        {
            "name": "2026年电子商务进农村补贴",
            "programme_kind": "subsidy",
            "budget": 500000,
            "service_area": ["610124"],
            "eligibility": {"organisation_kinds": ["community"], "regions": ["610124"], "max_amount": 20000},
        },
    )
    firm = register(platform, "enterprise", "秦农电商有限公司", region="610124")
    need = post(
        platform,
        "enterprise",
        "/needs",
        firm,
        {"category": "funding.subsidy", "title": "冷库建设补贴申请", "quantity": 2, "unit": "万元"},
    )
    url = f"{platform.url('enterprise')}/needs/{need['need_id']}/diagnosis"
    deadline = time.monotonic() + 20
    while (answer := httpx.get(url, headers=firm, params={"lang": "en"})).status_code == 404:
        assert "has not received this need yet" in answer.json()["message"]
        assert time.monotonic() < deadline, "the coordinator never received the need"
        time.sleep(0.1)
    assert answer.status_code == 200, answer.text
    diagnosis = answer.json()
    assert (diagnosis["listing_id"], diagnosis["side"], diagnosis["lang"]) == (need["need_id"], "need", "en")
    assert diagnosis["summary"]["text"]

    def offered_in(diagnosis: dict[str, Any]) -> list[dict[str, Any]]:
        return [c for c in diagnosis["candidates"] if c["listing_id"] == programme["offer"]["offer_id"]]

    # the programme reaches the coordinator through the government service's own relay
    deadline = time.monotonic() + 30
    while not (offered := offered_in(diagnosis)):
        assert time.monotonic() < deadline, "the coordinator never received the programme"
        time.sleep(0.1)
        diagnosis = httpx.get(url, headers=firm, params={"lang": "en"}).json()
    assert offered and offered[0]["failed"] is not None  # open to community organisations only
    zh = httpx.get(url, headers=firm, params={"lang": "zh"}).json()
    assert zh["lang"] == "zh" and zh["summary"]["code"] == diagnosis["summary"]["code"]
    stranger = register(platform, "enterprise", "别的公司", region="610124")
    assert httpx.get(url, headers=stranger).status_code == 404


def _diagnosis(
    platform: Platform, service: str, side: str, listing_id: str, auth: dict[str, str], lang: str
) -> Any:
    url = f"{platform.url(service)}/{side}s/{listing_id}/diagnosis"
    deadline = time.monotonic() + 20
    while (answer := httpx.get(url, headers=auth, params={"lang": lang})).status_code == 404:
        assert time.monotonic() < deadline, "the coordinator never received the listing"
        time.sleep(0.1)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _matches(platform: Platform, service: str, auth: dict[str, str]) -> list[dict[str, Any]]:
    response = httpx.get(platform.url(service) + "/matches", headers=auth)
    assert response.status_code == 200, response.text
    return list(response.json())


def test_required_certifications_and_ended_windows_are_hard_rules_each_party_can_see(
    platform: Platform,
) -> None:
    today = date.today()
    firm = register(platform, "enterprise", "秦农电商有限公司", region="610124")
    procurement = post(
        platform,
        "enterprise",
        "/procurements",
        firm,
        {
            "title": "收购有机猕猴桃",
            "product_category": "produce.fruit.kiwifruit",
            "quantity": 2,
            "unit": "t",
            "region": "610124",  # from anywhere in the county
            "window_start": (today - timedelta(days=5)).isoformat(),
            "window_end": (today + timedelta(days=40)).isoformat(),
            "requirements": {"required_certifications": ["organic"], "price_max": 9000},
        },
    )
    need_id = procurement["need"]["need_id"]
    lots = {}
    for name, village, certifications in (
        ("东村合作社", "610124104201", ["organic"]),
        ("西村合作社", "610124104202", ["green-food"]),
    ):
        coop = register(platform, "community", name, region="610124")
        lot = post(
            platform,
            "community",
            "/lots",
            coop,
            {
                "product_category": "produce.fruit.kiwifruit",
                "variety": "翠香",
                "quantity": 1500,
                "unit": "kg",
                "region": village,
                "certifications": certifications,
                "price_per_unit": 8,  # yuan per kg = 8,000 a tonne: within the buyer's range
                "window_start": (today - timedelta(days=10)).isoformat(),
                "window_end": (today + timedelta(days=20)).isoformat(),
            },
        )
        lots[name] = (coop, lot["offer"]["offer_id"])

    deadline = time.monotonic() + 30
    while not (proposed := _matches(platform, "enterprise", firm)):
        assert time.monotonic() < deadline, "no proposal"
        time.sleep(0.2)
    assert {m["offer_id"] for m in proposed} == {lots["东村合作社"][1]}  # only the organic lot
    assert proposed[0]["quantity"] in ("1.5", "1.5000")

    # the buyer's diagnosis: 1.5 t proposed, the green-food lot fails the certification
    mine = _diagnosis(platform, "enterprise", "need", need_id, firm, "zh")
    plain = next(c for c in mine["candidates"] if c["listing_id"] == lots["西村合作社"][1])
    assert plain["failed"]["code"] == "missing_certifications"
    assert plain["failed"]["text"] == "缺少要求的认证：有机产品"
    # the cooperative whose lot is never proposed asks its own service, and sees why
    coop, offer_id = lots["西村合作社"]
    theirs = _diagnosis(platform, "community", "offer", offer_id, coop, "en")
    assert theirs["summary"]["code"] == "no_needs"
    why = next(c for c in theirs["candidates"] if c["listing_id"] == need_id)
    assert why["failed"]["text"] == "lacks the required certifications: organic"

    # a village whose training window already ended is never matched, and is told so
    village = register(platform, "community", "南村村委会", region="610124")
    late = post(
        platform,
        "community",
        "/needs",
        village,
        {
            "category": "training.livestream",
            "title": "直播带货培训",
            "quantity": 20,
            "unit": "人",
            "window_start": (today - timedelta(days=20)).isoformat(),
            "window_end": (today - timedelta(days=1)).isoformat(),
        },
    )
    trainer = register(platform, "ngo", "县社会工作服务站", region="610124")
    post(
        platform,
        "ngo",
        "/offers",
        trainer,
        {
            "category": "training.livestream",
            "title": "直播带货初级班",
            "quantity": 30,
            "unit": "人",
            "service_area": ["610124"],
        },
    )
    ended = _diagnosis(platform, "community", "need", late["need_id"], village, "zh")
    assert ended["summary"]["code"] == "listing_window_expired"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the course is in the book and still nothing is proposed
        course = [c for c in ended["candidates"] if c["title"] == "直播带货初级班"]
        if course:
            break
        time.sleep(0.2)
        ended = _diagnosis(platform, "community", "need", late["need_id"], village, "zh")
    assert course and course[0]["failed"]["code"] == "need_window_expired"
    assert _matches(platform, "community", village) == []
