"""Matching scenarios over HTTP across the five running services."""

import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx

from services import SERVICES
from sifang.client import Sifang
from sifang.platform import Platform
from tests.e2e.conftest import StartPlatform

COUNTY = "610124"


def day(offset: int) -> str:
    """A date relative to today: windows that ended are no longer matched."""
    return (date.today() + timedelta(days=offset)).isoformat()


def eventually(probe: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        time.sleep(0.1)
    return result


class Org:
    """An organisation using its own stakeholder service over HTTP, through the Python client."""

    def __init__(self, platform: Platform, service: str, name: str, region: str) -> None:
        self.base = platform.url(service)
        client = Sifang({s: platform.url(s) for s in SERVICES}, platform.token)
        organisation, api_key = client.register(service, name, region)
        self.id = organisation["id"]
        self.api = client.stakeholder(service, api_key)
        self.auth = {"Authorization": f"Bearer {api_key}"}

    def post(self, path: str, body: dict[str, Any], expect: int = 201) -> Any:
        response = httpx.post(self.base + path, json=body, headers=self.auth)
        assert response.status_code == expect, response.text
        return response.json()

    def matches_or_meetings(self, path: str) -> Any:
        response = httpx.get(self.base + path, headers=self.auth)
        return response.json() if response.status_code == 200 else {}

    def matches(self, status: str | None = None) -> list[dict[str, Any]]:
        return list(self.api.matches(status))


def coordinator_matches(platform: Platform, **params: str) -> list[dict[str, Any]]:
    response = httpx.get(
        platform.url("coordinator") + "/matches",
        params=params,
        headers={"Authorization": f"Bearer {platform.token}"},
    )
    assert response.status_code == 200, response.text
    return list(response.json())


def test_a_cooperatives_kiwifruit_lots_are_pooled_into_a_procurement(platform: Platform) -> None:
    buyer = Org(platform, "enterprise", "秦农电商有限公司", COUNTY)
    need = buyer.post(
        "/procurements",
        {
            "title": "收购翠香猕猴桃",
            "product_category": "produce.fruit.kiwifruit",
            "grade": "一级",
            "quantity": 3,
            "unit": "t",
            "window_start": day(-30),
            "window_end": day(60),
        },
    )["need"]
    lots = {}
    for name, village, quantity, unit in (
        ("东村合作社", "610124104201", 1.2, "t"),
        ("西村合作社", "610124104202", 1, "t"),
        ("南村合作社", "610124105201", 1500, "斤"),
    ):
        coop = Org(platform, "community", name, village)
        lot = coop.post(
            "/lots",
            {
                "product_category": "produce.fruit.kiwifruit",
                "variety": "翠香",
                "grade": "一级",
                "quantity": quantity,
                "unit": unit,
                "certifications": ["green-food"],
                "window_start": day(-60),
                "window_end": day(30),
                "service_area": [COUNTY],
            },
        )
        lots[lot["offer"]["offer_id"]] = coop

    proposals = eventually(lambda: len(m := buyer.matches("proposed")) == 3 and m)
    assert {p["offer_id"] for p in proposals} == set(lots)
    assert sum(Decimal(p["quantity"]) for p in proposals) == Decimal("2.95")  # 1.2 t + 1 t + 1500 斤
    assert all(p["need_id"] == need["need_id"] and p["my_side"] == "need" for p in proposals)
    south = next(p for p in proposals if p["offer_unit"] == "斤")
    assert Decimal(south["offer_quantity"]) == 1500
    assert south["explanation"]["limited_by"] == "offer"
    assert [f["code"] for f in south["explanation"]["filters"]] == [
        "different_organisations",
        "category",
        "region_origin",  # a county-wide procurement takes lots grown anywhere in the county
        "window_overlap",
        "units",
    ]
    (held,) = coordinator_matches(platform, need_id=need["need_id"], offer_id=south["offer_id"])
    assert held["explanation_text"]["en"]["summary"].startswith("Proposes 0.75 t of")
    assert held["explanation_text"]["zh"]["filters"][2] == "产地 610124105201 位于需求的来源范围 610124 内"

    for proposal in proposals:  # both sides accept through their own services
        coop = lots[proposal["offer_id"]]
        eventually(lambda: proposal["match_id"] in {m["match_id"] for m in coop.matches()})  # noqa: B023
        assert coop.matches()[0]["my_side"] == "offer"
        buyer.post(f"/matches/{proposal['match_id']}/accept", {}, expect=200)
        coop.post(f"/matches/{proposal['match_id']}/accept", {}, expect=200)
    eventually(lambda: len(buyer.matches("confirmed")) == 3)

    first = proposals[0]
    buyer.post(f"/matches/{first['match_id']}/deliveries", {"quantity": "0.5", "note": "第一车"}, expect=202)
    eventually(
        lambda: (
            Decimal(
                coordinator_matches(
                    platform, need_id=need["need_id"], status="confirmed", offer_id=first["offer_id"]
                )[0]["fulfilled_quantity"]
            )
            == Decimal("0.5")
        )
    )
    rest = Decimal(first["quantity"]) - Decimal("0.5")
    too_much = httpx.post(
        f"{buyer.base}/matches/{first['match_id']}/deliveries",
        headers=buyer.auth,
        json={"quantity": str(rest + 1)},
    )
    assert too_much.status_code == 422
    buyer.post(f"/matches/{first['match_id']}/deliveries", {"quantity": str(rest)}, expect=202)
    done = eventually(lambda: coordinator_matches(platform, status="fulfilled"))
    assert [m["match_id"] for m in done] == [first["match_id"]]


def test_a_training_course_is_shared_across_villages(platform: Platform) -> None:
    trainer = Org(platform, "ngo", "县社会工作服务站", COUNTY)
    villages = [
        Org(platform, "community", f"{name}村委会", code)
        for name, code in (("东", "610124104201"), ("西", "610124104202"))
    ]
    for village in villages:
        village.post(
            "/needs",
            {"category": "training.livestream", "title": "直播带货培训", "quantity": 30, "unit": "人"},
        )
    course = trainer.post(
        "/courses",
        {
            "title": "直播带货初级班",
            "tier": "basic",
            "topic": "training.livestream",
            "seats": 30,
            "start_date": day(10),
            "end_date": day(12),
            "service_area": [COUNTY],
        },
    )
    offer_id = course["offer"]["offer_id"]
    shares = eventually(
        lambda: len(m := coordinator_matches(platform, offer_id=offer_id, status="proposed")) == 2 and m
    )
    assert sorted(Decimal(m["quantity"]) for m in shares) == [15, 15]
    assert {m["explanation"]["limited_by"] for m in shares} == {"fair_share"}
    assert {m["explanation"]["limit_params"]["share"] for m in shares} == {"15 人"}
    assert {m["need_organisation_id"] for m in shares} == {v.id for v in villages}
    eventually(lambda: len(trainer.matches("proposed")) == 2)  # the trainer's service catches up

    # One village declines: its pair is not proposed again, and the other may take the seats.
    declined = next(m for m in shares if m["need_organisation_id"] == villages[0].id)
    eventually(lambda: declined["match_id"] in {m["match_id"] for m in villages[0].matches("proposed")})
    assert (
        villages[0].post(f"/matches/{declined['match_id']}/decline", {}, expect=422)["errors"][0]["field"]
        == "reason"
    )
    villages[0].post("/matches/no-such-match/accept", {}, expect=404)
    villages[0].post(f"/matches/{declined['match_id']}/decline", {"reason": "时间冲突"}, expect=200)
    eventually(lambda: any(m["status"] == "declined" for m in villages[0].matches()))
    regrown = eventually(
        lambda: (
            [
                m
                for m in coordinator_matches(platform, offer_id=offer_id, status="proposed")
                if Decimal(m["quantity"]) == 30
            ]
            or None
        )
    )
    assert regrown[0]["need_organisation_id"] == villages[1].id
    assert not villages[0].matches("proposed")
    again = httpx.post(f"{villages[0].base}/matches/{declined['match_id']}/accept", headers=villages[0].auth)
    assert again.status_code == 409


def test_a_subsidy_is_refused_to_ineligible_organisations(platform: Platform) -> None:
    bureau = Org(platform, "government", "周至县商务局", COUNTY)
    certified = Org(platform, "community", "有机合作社", "610124104201")
    certified.post(
        "/lots",
        {
            "product_category": "produce.fruit.kiwifruit",
            "variety": "徐香",
            "quantity": 2,
            "unit": "t",
            "certifications": ["green-food"],
        },
    )
    uncertified = Org(platform, "community", "新建合作社", "610124104202")
    ngo = Org(platform, "ngo", "乡村发展协会", COUNTY)
    for org in (certified, uncertified, ngo):
        org.post(
            "/needs", {"category": "funding.subsidy", "title": "电商设备补贴", "quantity": 5, "unit": "万元"}
        )
    programme = bureau.post(
        "/programmes",
        {
            "name": "2026年电子商务进农村补贴",
            "programme_kind": "subsidy",
            "budget": 500000,
            "service_area": [COUNTY],
            "eligibility": {
                "organisation_kinds": ["community"],
                "regions": [COUNTY],
                "required_certifications": ["green-food"],
                "max_amount": 20000,
            },
        },
    )
    offer_id = programme["offer"]["offer_id"]
    granted = eventually(lambda: coordinator_matches(platform, offer_id=offer_id))
    assert [(m["need_organisation_id"], m["quantity"], m["unit"]) for m in granted] == [
        (certified.id, "2", "万元")
    ]
    assert granted[0]["explanation"]["limited_by"] == "programme_max"
    assert any(f["code"] == "eligibility" for f in granted[0]["explanation"]["filters"])
    time.sleep(1.0)  # nothing further arrives for the others
    assert uncertified.matches() == [] and ngo.matches() == []


def test_unanswered_proposals_expire_and_return_to_the_pool(start_platform: StartPlatform) -> None:
    platform = start_platform(COORDINATOR_RESPONSE_HOURS="0.0005", COORDINATOR_EXPIRY_CHECK_SECONDS="0.3")
    venue_owner = Org(platform, "community", "文化礼堂", "610124104201")
    needing = Org(platform, "government", "县电商中心", COUNTY)
    needing.post("/needs", {"category": "venue", "title": "直播基地场地", "quantity": 20, "unit": "hour"})
    venue_owner.post(
        "/offers",
        {"category": "venue", "title": "礼堂", "quantity": 40, "unit": "hour", "service_area": [COUNTY]},
    )
    expired = eventually(lambda: needing.matches("expired"))
    assert expired[0]["reason"] == "no answer within the response time"
    time.sleep(1.0)
    assert needing.matches("proposed") == []  # the pair is not proposed again
