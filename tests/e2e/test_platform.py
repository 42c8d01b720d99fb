"""End to end over HTTP: the five services as separate processes, a real nats-server, each backend."""

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sifang.platform import Platform


def _admin(platform: Platform) -> dict[str, str]:
    return {"Authorization": f"Bearer {platform.token}"}


def _eventually(probe: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("not seen in time")
        time.sleep(0.1)


def _register(platform: Platform, service: str, name: str) -> tuple[str, dict[str, str]]:
    response = httpx.post(
        platform.url(service) + "/organisations",
        headers=_admin(platform),
        json={"name": name, "region": "610124104201", "contact": {"person": "李娜"}},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return body["organisation"]["id"], {"Authorization": f"Bearer {body['api_key']}"}


def _post_need(platform: Platform, auth: dict[str, str], title: str) -> str:
    response = httpx.post(
        platform.url("community") + "/needs",
        headers=auth,
        json={"category": "training.livestream", "title": title, "quantity": 30, "unit": "人"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["need_id"])


def _coordinator_needs(platform: Platform) -> dict[str, Any]:
    response = httpx.get(platform.url("coordinator") + "/needs", headers=_admin(platform))
    assert response.status_code == 200
    return {need["id"]: need for need in response.json()}


def test_a_community_need_reaches_the_coordinator(platform: Platform) -> None:
    org_id, auth = _register(platform, "community", "马召镇东村村委会")
    need_id = _post_need(platform, auth, "村民直播带货培训")

    needs = _eventually(lambda: _coordinator_needs(platform).get(need_id))
    assert needs["organisation_id"] == org_id
    assert needs["kind"] == "community"
    assert needs["title"] == "村民直播带货培训"

    coordinator = platform.url("coordinator")
    organisations = httpx.get(
        coordinator + "/organisations",
        headers=_admin(platform),
        params={"kind": "community", "region": "610124"},
    ).json()
    assert [o["id"] for o in organisations] == [org_id]
    events = httpx.get(
        coordinator + "/events", headers=_admin(platform), params={"organisation_id": org_id}
    ).json()
    assert [e["type"] for e in events] == ["sifang.organisation.registered.v1", "sifang.need.published.v1"]
    assert events[1]["source"] == f"/sifang/community/{org_id}"
    assert events[1]["nats_subject"] == "sifang.community.610124.need.published"
    assert events[0]["stream_sequence"] < events[1]["stream_sequence"]
    assert httpx.get(coordinator + "/needs").status_code == 401  # reads need the admin token


def test_the_coordinator_restarted_catches_up_on_what_it_missed(platform: Platform) -> None:
    _, auth = _register(platform, "community", "西村合作社")
    first = _post_need(platform, auth, "冷链物流")
    _eventually(lambda: first in _coordinator_needs(platform))

    platform.stop_service("coordinator")
    missed = [_post_need(platform, auth, f"培训第{i}期") for i in range(5)]
    platform.start_service("coordinator")
    platform.wait_healthy("coordinator")

    _eventually(lambda: set(missed) <= set(_coordinator_needs(platform)))
    assert len(_coordinator_needs(platform)) == 6


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_running_twice_keeps_the_data(platform: Platform) -> None:
    _, auth = _register(platform, "community", "南村村委会")
    need_id = _post_need(platform, auth, "品牌设计")
    _eventually(lambda: need_id in _coordinator_needs(platform))
    platform.stop()
    platform.start()
    assert need_id in _coordinator_needs(platform)
    listed = httpx.get(platform.url("community") + "/needs", headers=auth).json()
    assert [n["need_id"] for n in listed] == [need_id]
