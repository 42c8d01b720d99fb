"""Market information end to end (the platform as separate processes, SQLite): villages ask
for more live-stream training than the county's one course has seats; the coordinator judges
the county's training family short as the listings arrive, the open data says so, and each
party reads the signal at its own service."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sifang.platform import Platform
from tests.e2e.parties import post, register
from tests.processes import eventually

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


def test_villages_short_of_training_see_the_shortage_at_their_own_service(
    start_platform: Callable[..., Platform],
) -> None:
    platform = start_platform()
    village = register(platform, "community", "马召镇西村村委会")
    station = register(platform, "ngo", "周至县社工站")
    for persons in (20, 25, 15):
        post(
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
    post(
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
    market = platform.url("coordinator") + "/open-data/market"
    rows = eventually(
        lambda: [
            r for r in httpx.get(market, params={"lang": "en"}).json() if (r["needs"], r["offers"]) == (3, 1)
        ],
        timeout=30,
        what="the county's training family at the coordinator",
    )
    (row,) = rows
    assert (row["county"], row["family"], row["state"]) == ("610124", "training.livestream", "shortage")
    assert (row["demand"], row["supply"]) == (60.0, 10.0)

    signals = _signals_at(platform, "community", village, "the village's", lang="en")
    assert len(signals) == 1
    assert signals[0]["state"] == "shortage" and signals[0]["yours"] is True
    assert signals[0]["reason"].startswith("demand well above supply")
    # each service keeps its own copy, from its own consumer of the coordinator's events
    zh = _signals_at(platform, "ngo", station, "the station's")
    assert zh[0]["reason"].startswith("需求明显多于供给") and zh[0]["yours"] is True
    # a party that lists nothing in the family sees it only when it asks for every family
    firm = register(platform, "enterprise", "秦农电商有限公司")
    every = _signals_at(platform, "enterprise", firm, "the firm's", every_category="true")
    assert [(s["family"], s["yours"]) for s in every] == [("training.livestream", False)]
    assert httpx.get(platform.url("enterprise") + "/market/signals", headers=firm).json() == []
    assert httpx.get(platform.url("enterprise") + "/market/signals").status_code == 401


def _signals_at(
    platform: Platform, service: str, headers: dict[str, str], whose: str, **params: str
) -> list[dict[str, Any]]:
    """The market signals a party reads at its own service, once its copy has any."""
    signals: list[dict[str, Any]] = eventually(
        lambda: httpx.get(platform.url(service) + "/market/signals", headers=headers, params=params).json(),
        timeout=30,
        what=f"the signal at {whose} own service",
    )
    return signals
