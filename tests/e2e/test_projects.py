"""A cross-sector project end to end (the platform as separate processes, SQLite): a village
proposes a project with a social-work station and a company through its own service; the
station joins and the company declines through theirs; the county bureau funds the project's
budget line from its special fund's social-work share (never beyond the line); the station
reports a milestone; the village closes the project with its report. Every party reads the
project at its own service, the coordinator's API shows the same, and the replay is identical."""

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


def _project(platform: Platform, service: str, auth: dict[str, str], project_id: str, **expect: Any) -> Any:
    """The project as ``service`` holds it, once it shows ``expect``."""

    def seen() -> Any:
        response = httpx.get(platform.url(service) + f"/projects/{project_id}", headers=auth)
        if response.status_code != 200:
            return None
        body = response.json()
        return body if all(body.get(k) == v for k, v in expect.items()) else None

    return eventually(seen, timeout=30, what=f"project {project_id} at {service} with {expect}")


def _me(platform: Platform, service: str, auth: dict[str, str]) -> str:
    org_id: str = httpx.get(platform.url(service) + "/organisations/me", headers=auth).json()["id"]
    return org_id


def test_parties_run_a_funded_project_each_through_its_own_service(
    start_platform: Callable[..., Platform],
) -> None:
    platform = start_platform()
    village = register(platform, "community", "楼观镇南村果业合作社", region="610124105201")
    station = register(platform, "ngo", "周至县社会工作服务站", region=COUNTY)
    firm = register(platform, "enterprise", "秦农电商有限公司", region=COUNTY)
    bureau = register(platform, "government", "周至县商务局", region=COUNTY)
    fund = post(
        platform,
        "government",
        "/funds",
        bureau,
        {
            "name": "协同专项资金",
            "fiscal_year": 2026,
            "shares": [
                {"share": "social_work", "name": "社会工作服务", "purpose": "social_work", "amount": "300000"}
            ],
        },
    )
    post(
        platform,
        "government",
        f"/funds/{fund['id']}/tranches",
        bureau,
        {"received_on": "2026-03-01", "amounts": {"social_work": "100000"}},
    )
    eventually(
        lambda: httpx.get(platform.url("coordinator") + f"/open-data/funds/{fund['id']}").status_code == 200,
        timeout=30,
        what="the fund",
    )

    accepted = httpx.post(
        platform.url("community") + "/projects",
        headers=village,
        json={
            "title": "公益助农直播节",
            "role": "供货与组织农户",
            "members": [
                {"organisation_id": _me(platform, "ngo", station), "role": "社工陪伴与培训"},
                {"organisation_id": _me(platform, "enterprise", firm), "role": "直播运营"},
            ],
            "milestones": [
                {"title": "农户动员", "due_date": "2027-01-10"},
                {"title": "直播节", "due_date": "2027-03-01"},
            ],
            "budget_lines": [
                {
                    "line": "training",
                    "title": "培训与社工服务",
                    "amount": "60000",
                    "fund_id": fund["id"],
                    "share": "social_work",
                }
            ],
        },
    )
    assert accepted.status_code == 202, accepted.text
    project_id = accepted.json()["project_id"]
    proposal = {"title": "x", "role": "lead", "milestones": [{"title": "m", "due_date": "2027-01-10"}]}
    for members, problem in (
        ([{"organisation_id": _me(platform, "community", village), "role": "x"}], "the caller leads"),
        ([{"organisation_id": "same", "role": "a"}, {"organisation_id": "same", "role": "b"}], "named twice"),
    ):
        bad = httpx.post(
            platform.url("community") + "/projects", headers=village, json=proposal | {"members": members}
        )
        assert bad.status_code == 422 and problem in bad.json()["message"], bad.text
        assert bad.json()["errors"][0]["field"] == "members"

    invited = _project(platform, "ngo", station, project_id, status="proposed")
    assert (invited["my_answer"], invited["my_role"]) == ("pending", "社工陪伴与培训")
    assert invited["status_text"]["en"].startswith("waiting for members to answer")
    answered = httpx.post(
        platform.url("ngo") + f"/projects/{project_id}/answer", headers=station, json={"answer": "join"}
    )
    assert answered.status_code == 202, answered.text
    _project(platform, "enterprise", firm, project_id)  # the firm's service has its own copy by now
    declined = httpx.post(
        platform.url("enterprise") + f"/projects/{project_id}/answer",
        headers=firm,
        json={"answer": "decline", "reason": "档期冲突"},
    )
    assert declined.status_code == 202
    _project(platform, "community", village, project_id, status="active")
    again = _project(platform, "enterprise", firm, project_id, my_answer="declined", status="active")
    refused = httpx.post(
        platform.url("enterprise") + f"/projects/{project_id}/progress",
        headers=firm,
        json={"milestone_id": "m1", "status": "done"},
    )
    assert refused.status_code == 403 and refused.json()["errors"][0]["field"] == "organisation_id"
    assert again["status"] == "active"

    # the bureau sees the project its fund's line is named in, and funds that line
    _project(platform, "government", bureau, project_id, status="active")
    grant = {
        "share": "social_work",
        "allocated_on": "2026-12-01",
        "township": "610124105",
        "purpose": "培训",
        "project_id": project_id,
        "budget_line": "training",
    }
    too_much = httpx.post(
        platform.url("government") + f"/funds/{fund['id']}/allocations",
        headers=bureau,
        json=grant | {"amount": "60000.01"},
    )
    assert too_much.status_code == 409 and "can take 60,000.00 yuan more" in too_much.json()["message"]
    named = httpx.post(  # naming the project in words does not skip the line's check
        platform.url("government") + f"/funds/{fund['id']}/allocations",
        headers=bureau,
        json=grant | {"amount": "60000.01", "project": "公益助农直播节"},
    )
    assert named.status_code == 409 and "can take 60,000.00 yuan more" in named.json()["message"]
    allocation = post(
        platform, "government", f"/funds/{fund['id']}/allocations", bureau, grant | {"amount": "45000"}
    )
    assert allocation["project"] == "公益助农直播节"
    post(
        platform,
        "government",
        f"/funds/{fund['id']}/allocations/{allocation['id']}/disbursements",
        bureau,
        {
            "amount": "20000",
            "paid_on": "2026-12-03",
            "evidence": [{"kind": "contract", "reference": "HT-2026-12"}],
        },
    )

    reported = httpx.post(
        platform.url("ngo") + f"/projects/{project_id}/progress",
        headers=station,
        json={"milestone_id": "m1", "status": "done", "note": "动员 36 户"},
    )
    assert reported.status_code == 202
    not_lead = httpx.post(
        platform.url("ngo") + f"/projects/{project_id}/close",
        headers=station,
        json={"outcome": "completed", "report": "x"},
    )
    assert not_lead.status_code == 403

    def funded(body: dict[str, Any]) -> bool:
        line = body["budget_lines"][0]
        return (line["allocated"], line["paid"]) == ("45000.00", "20000.00") and body["milestones"][0][
            "status"
        ] == "done"

    eventually(
        lambda: funded(_project(platform, "community", village, project_id)),
        timeout=30,
        what="funding and progress",
    )
    closed = httpx.post(
        platform.url("community") + f"/projects/{project_id}/close",
        headers=village,
        json={"outcome": "completed", "report": "直播节销售猕猴桃 8 吨"},
    )
    assert closed.status_code == 202
    final = _project(platform, "ngo", station, project_id, status="completed")
    assert final["closing"]["report"] == "直播节销售猕猴桃 8 吨"
    assert final["status_text"]["zh"] == "项目已完成并结项"

    coordinator = httpx.get(
        platform.url("coordinator") + f"/projects/{project_id}",
        headers={"Authorization": f"Bearer {platform.token}"},
    ).json()
    assert coordinator["version"] == final["version"] and coordinator["status"] == "completed"
    replay = sifang(platform, "replay")
    assert "events processed, 0 failed" in replay.stdout, replay.stdout + replay.stderr
    assert "The replay is identical" in replay.stdout, replay.stdout
