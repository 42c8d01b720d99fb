"""The special fund end to end (the platform as separate processes, SQLite): a county bureau
opens a subsidy programme and a special fund; a village's funding need is matched to the
programme and confirmed by both; the bureau allocates the fund to that confirmed match — never
beyond what the match grants — and pays it out against evidence; the coordinator's open data
shows the fund's utilisation, and a coordinator killed (SIGKILL) in the middle of the ledger
comes back with the same figures."""

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sifang.platform import Platform
from tests.e2e.parties import post, register
from tests.e2e.test_cli import sifang
from tests.processes import eventually

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

COUNTY = "610124"


def _matches(platform: Platform, service: str, auth: dict[str, str], status: str | None = None) -> list[Any]:
    params = {"status": status} if status else {}
    found: list[Any] = httpx.get(platform.url(service) + "/matches", headers=auth, params=params).json()
    return found


def test_a_bureau_funds_a_confirmed_match_and_the_county_sees_its_fund_used(
    start_platform: Callable[..., Platform],
) -> None:
    platform = start_platform()
    bureau = register(platform, "government", "周至县商务局", region=COUNTY)
    village = register(platform, "community", "马召镇东村合作社")
    post(
        platform,
        "community",
        "/needs",
        village,
        {"category": "funding.subsidy", "title": "分拣设备补贴", "quantity": 3, "unit": "万元"},
    )
    post(
        platform,
        "government",
        "/programmes",
        bureau,
        {
            "name": "电子商务进农村补贴",
            "programme_kind": "subsidy",
            "budget": 200000,
            "service_area": [COUNTY],
            "eligibility": {"organisation_kinds": ["community"], "max_amount": 30000},
        },
    )
    (proposal,) = eventually(
        lambda: _matches(platform, "community", village), timeout=30, what="the proposal"
    )
    # each side's service learns of it from its own consumer of the coordinator's events
    eventually(lambda: _matches(platform, "government", bureau), timeout=30, what="the bureau's copy")
    for service, auth in (("community", village), ("government", bureau)):
        answered = httpx.post(platform.url(service) + f"/matches/{proposal['match_id']}/accept", headers=auth)
        assert answered.status_code == 200, answered.text
    eventually(
        lambda: _matches(platform, "government", bureau, "confirmed"), timeout=30, what="the confirmation"
    )

    fund = post(
        platform,
        "government",
        "/funds",
        bureau,
        {
            "name": "电商与社工协同专项资金",
            "fiscal_year": 2026,
            "shares": [
                {
                    "share": "ecommerce",
                    "name": "电商基础设施",
                    "purpose": "ecommerce_infrastructure",
                    "amount": "500000",
                },
                {
                    "share": "social_work",
                    "name": "社会工作服务",
                    "purpose": "social_work",
                    "amount": "200000",
                },
            ],
        },
    )
    path = f"/funds/{fund['id']}"
    post(
        platform,
        "government",
        path + "/tranches",
        bureau,
        {"received_on": "2026-04-01", "amounts": {"ecommerce": "100000"}},
    )
    os.kill(platform.pid("coordinator"), signal.SIGKILL)  # the rest of the ledger waits on the stream
    grant = {
        "share": "ecommerce",
        "allocated_on": "2026-05-06",
        "township": "610124104",
        "purpose": "分拣设备",
    }
    too_much = httpx.post(
        platform.url("government") + path + "/allocations",
        headers=bureau,
        json={**grant, "amount": "30000.01", "match_id": proposal["match_id"]},
    )
    assert too_much.status_code == 409 and "grants 30,000.00 yuan" in too_much.json()["message"]
    allocation = post(
        platform,
        "government",
        path + "/allocations",
        bureau,
        {**grant, "amount": "30000", "match_id": proposal["match_id"]},
    )
    assert allocation["recipient_organisation_id"] == proposal["need_organisation_id"]
    post(
        platform,
        "government",
        f"{path}/allocations/{allocation['id']}/disbursements",
        bureau,
        {
            "amount": "30000",
            "paid_on": "2026-06-18",
            "evidence": [{"kind": "acceptance", "reference": "验收单 2026-061"}],
        },
    )
    time.sleep(0.5)
    platform.start_service("coordinator")
    platform.wait_healthy("coordinator")

    def figures() -> dict[str, Any] | None:
        response = httpx.get(platform.url("coordinator") + f"/open-data/funds/{fund['id']}")
        if response.status_code != 200 or response.json()["entries"] < 4:
            return None
        detail: dict[str, Any] = response.json()
        return detail

    detail = eventually(figures, timeout=60, what="the fund's four entries at the coordinator")
    ecommerce = detail["shares"][0]
    assert (ecommerce["received"], ecommerce["committed"], ecommerce["paid"]) == (
        "100000.00",
        "30000.00",
        "30000.00",
    )
    assert ecommerce["utilisation_rate"] == 0.3
    (funded,) = detail["allocations"]
    assert (funded["match_id"], funded["recipient_organisation_id"]) == (
        proposal["match_id"],
        proposal["need_organisation_id"],
    )
    rows = httpx.get(platform.url("coordinator") + f"/open-data/funds/{fund['id']}/utilisation").json()
    assert {(r["township"], r["quarter"], r["paid"]) for r in rows if r["paid"] != "0.00"} == {
        ("610124104", "2026-Q2", "30000.00")
    }
    dead = httpx.get(
        platform.url("coordinator") + "/dead-letters", headers={"Authorization": f"Bearer {platform.token}"}
    )
    assert dead.status_code == 200 and dead.json() == []
    replay = sifang(platform, "replay")
    assert "events processed, 0 failed" in replay.stdout, replay.stdout + replay.stderr
    assert "The replay is identical" in replay.stdout, replay.stdout
    assert "ledger_fund_movements" in replay.stdout
