"""Mediation end to end (the platform as separate processes, SQLite): a village raises a dispute
with a company at its own service; a coordinator names a social-work station as mediator (not
the company: it is a party, nor the bureau: not a social-work organisation); both parties state
their case and the station proposes a settlement through their own services; the company
rejects it, the station declares the mediation failed, and the dispute — with its history —
comes to the next joint meeting's agenda; the outcome is in the county's verified hash chain,
and the replay is identical."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sifang.platform import Platform
from tests.e2e.parties import post, register
from tests.e2e.test_cli import sifang
from tests.processes import eventually

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

COUNTY = "610124"


def _me(platform: Platform, service: str, auth: dict[str, str]) -> str:
    org_id: str = httpx.get(platform.url(service) + "/organisations/me", headers=auth).json()["id"]
    return org_id


def _dispute(platform: Platform, service: str, auth: dict[str, str], dispute_id: str, **expect: Any) -> Any:
    def seen() -> Any:
        response = httpx.get(platform.url(service) + f"/disputes/{dispute_id}", headers=auth)
        body = response.json() if response.status_code == 200 else None
        return body if body and all(body.get(k) == v for k, v in expect.items()) else None

    return eventually(seen, timeout=30, what=f"dispute {dispute_id} at {service} with {expect}")


def test_a_failed_mediation_takes_the_dispute_to_the_joint_meeting_with_its_history(
    start_platform: Callable[..., Platform],
) -> None:
    platform = start_platform()
    admin = {"Authorization": f"Bearer {platform.token}", "X-Coordinator": "li"}
    village = register(platform, "community", "马召镇西村村委会")
    firm = register(platform, "enterprise", "秦农电商有限公司", region=COUNTY)
    station = register(platform, "ngo", "周至县社会工作服务站", region=COUNTY)
    bureau = register(platform, "government", "周至县商务局", region=COUNTY)
    firm_id, station_id, bureau_id = (
        _me(platform, s, a) for s, a in (("enterprise", firm), ("ngo", station), ("government", bureau))
    )
    raised = post(
        platform,
        "community",
        "/disputes",
        village,
        {"title": "收购价格纠纷", "description": "低于约定价", "other_parties": [firm_id]},
    )
    dispute_id = raised["dispute_id"]
    coordinator = platform.url("coordinator")
    eventually(
        lambda: httpx.get(coordinator + f"/disputes/{dispute_id}", headers=admin).status_code == 200,
        timeout=30,
        what="the dispute",
    )
    # the mediator checks below name what the coordinator knows of each; each registration
    # reaches it through its own service's relay
    eventually(
        lambda: (
            {firm_id, station_id, bureau_id}
            <= {o["id"] for o in httpx.get(coordinator + "/organisations", headers=admin).json()}
        ),
        timeout=30,
        what="every party's registration at the coordinator",
    )

    for candidate, message in (
        (firm_id, "registered as enterprise"),
        (bureau_id, "registered as government"),
    ):
        refused = httpx.post(
            coordinator + f"/disputes/{dispute_id}/mediator",
            headers=admin,
            json={"mediator_organisation_id": candidate},
        )
        assert refused.status_code == 409 and message in refused.json()["message"], refused.text
        assert refused.json()["errors"][0]["field"] == "mediator_organisation_id"
    named = httpx.post(
        coordinator + f"/disputes/{dispute_id}/mediator",
        headers=admin,
        json={"mediator_organisation_id": station_id},
    )
    assert named.status_code == 200 and named.json()["step"] == "statements", named.text

    mine = _dispute(platform, "ngo", station, dispute_id, status="in_mediation")
    assert (mine["my_part"], mine["my_turn"]) == ("mediator", False)
    early = httpx.post(
        platform.url("ngo") + f"/disputes/{dispute_id}/statements", headers=station, json={"statement": "x"}
    )
    assert early.status_code == 403  # the mediator is not a party
    for service, auth, statement in (
        ("community", village, "约定 8 元/斤"),
        ("enterprise", firm, "部分不达一级"),
    ):
        _dispute(platform, service, auth, dispute_id, my_turn=True)
        assert (
            httpx.post(
                platform.url(service) + f"/disputes/{dispute_id}/statements",
                headers=auth,
                json={"statement": statement},
            ).status_code
            == 202
        )
    _dispute(platform, "ngo", station, dispute_id, my_turn=True, step="settlement")
    proposed = httpx.post(
        platform.url("ngo") + f"/disputes/{dispute_id}/settlements",
        headers=station,
        json={"terms": "按 7 元/斤结算"},
    )
    assert proposed.status_code == 202
    settlement_id = proposed.json()["settlement_id"]
    _dispute(platform, "enterprise", firm, dispute_id, step="answers")
    rejected = httpx.post(
        platform.url("enterprise") + f"/disputes/{dispute_id}/settlements/{settlement_id}/answer",
        headers=firm,
        json={"answer": "reject", "reason": "价格过高"},
    )
    assert rejected.status_code == 202
    _dispute(platform, "ngo", station, dispute_id, step="settlement")
    failed = httpx.post(
        platform.url("ngo") + f"/disputes/{dispute_id}/fail",
        headers=station,
        json={"note": "双方分歧过大，提交联席会议"},
    )
    assert failed.status_code == 202
    escalated = _dispute(platform, "community", village, dispute_id, status="escalated")
    assert escalated["escalation"]["reason"] == "mediator" and escalated["record_id"]
    late = httpx.post(
        platform.url("community") + f"/disputes/{dispute_id}/statements",
        headers=village,
        json={"statement": "补充"},
    )
    assert late.status_code == 409 and "escalated" in late.json()["message"]

    # the next joint meeting's agenda takes it up, with its history
    orgs = [o["id"] for o in httpx.get(coordinator + "/organisations", headers=admin).json()]
    series = httpx.post(
        coordinator + "/series",
        headers=admin,
        json={"name": "联席会议", "kind": "joint", "region": COUNTY, "invited": orgs},
    ).json()
    starts = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    meeting = httpx.post(
        coordinator + f"/series/{series['id']}/meetings",
        headers=admin,
        json={"title": "十二月联席会议", "starts_at": starts},
    ).json()
    agenda = httpx.post(coordinator + f"/meetings/{meeting['id']}/agenda/compile", headers=admin)
    assert agenda.status_code in (200, 201), agenda.text
    items = [i for i in agenda.json()["items"] if i["key"] == f"dispute:{dispute_id}"]
    assert len(items) == 1 and items[0]["source"] == "dispute"
    verdict = httpx.get(
        coordinator + "/mediation-records/verify", headers=admin, params={"county": COUNTY}
    ).json()
    assert (
        verdict == {"valid": True, "records": 1, "broken_at": None, "head": verdict["head"]}
        and verdict["head"]
    )
    replay = sifang(platform, "replay")
    assert "events processed, 0 failed" in replay.stdout, replay.stdout + replay.stderr
    assert "The replay is identical" in replay.stdout, replay.stdout
