"""Market information end to end (the platform as separate processes, SQLite): villages ask
for more live-stream training than the county's one course has seats; the coordinator judges
the county's training family short as the listings arrive, the open data says so, and each
party reads the signal at its own service."""

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sifang.platform import Platform

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


def _register(platform: Platform, service: str, name: str) -> dict[str, str]:
    response = httpx.post(
        platform.url(service) + "/organisations",
        headers={"Authorization": f"Bearer {platform.token}"},
        json={"name": name, "region": "610124104201"},
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['api_key']}"}


def _post(platform: Platform, service: str, path: str, auth: dict[str, str], body: dict[str, Any]) -> None:
    response = httpx.post(platform.url(service) + path, headers=auth, json=body)
    assert response.status_code == 201, response.text


def _eventually(read: Callable[[], Any], done: Callable[[Any], bool], seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"never happened; last seen: {value}"
        time.sleep(0.2)


def test_villages_short_of_training_see_the_shortage_at_their_own_service(
    start_platform: Callable[..., Platform],
) -> None:
    platform = start_platform()
    village = _register(platform, "community", "马召镇西村村委会")
    station = _register(platform, "ngo", "周至县社工站")
    for persons in (20, 25, 15):
        _post(
            platform,
            "community",
            "/needs",
            village,
            {
                "category": "training.livestream",
                "title": "村民直播带货培训",
                "quantity": persons,
                "unit": "人",
            },
        )
    _post(
        platform,
        "ngo",
        "/offers",
        station,
        {
            "category": "training.livestream",
            "title": "直播带货培训班",
            "quantity": 10,
            "unit": "人",
            "service_area": ["610124"],
        },
    )
    rows = _eventually(
        lambda: httpx.get(platform.url("coordinator") + "/open-data/market", params={"lang": "en"}).json(),
        lambda rows: any(r["needs"] == 3 and r["offers"] == 1 for r in rows),
    )
    (row,) = rows
    assert (row["county"], row["family"], row["state"]) == ("610124", "training.livestream", "shortage")
    assert (row["demand"], row["supply"]) == (60.0, 10.0)

    signals = _eventually(
        lambda: httpx.get(
            platform.url("community") + "/market/signals", headers=village, params={"lang": "en"}
        ).json(),
        lambda signals: len(signals) == 1,
    )
    assert signals[0]["state"] == "shortage" and signals[0]["yours"] is True
    assert signals[0]["reason"].startswith("demand well above supply")
    zh = httpx.get(platform.url("ngo") + "/market/signals", headers=station).json()
    assert zh[0]["reason"].startswith("需求明显多于供给") and zh[0]["yours"] is True
    # a party that lists nothing in the family sees it only when it asks for every family
    firm = _register(platform, "enterprise", "秦农电商有限公司")
    assert httpx.get(platform.url("enterprise") + "/market/signals", headers=firm).json() == []
    every = httpx.get(
        platform.url("enterprise") + "/market/signals", headers=firm, params={"every_category": "true"}
    )
    assert [(s["family"], s["yours"]) for s in every.json()] == [("training.livestream", False)]
    assert httpx.get(platform.url("enterprise") + "/market/signals").status_code == 401
