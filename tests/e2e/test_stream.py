"""Server-sent events from the coordinator over HTTP: filters, resuming, live delivery."""

import json
import threading
import time
from typing import Any

import httpx
import pytest

from sifang.platform import Platform
from tests.e2e.test_matching_scenarios import COUNTY, Org


def _read(
    platform: Platform,
    count: int,
    params: dict[str, Any],
    headers: dict[str, str] | None = None,
    while_reading: Any = None,
) -> list[tuple[int, str, dict[str, Any]]]:
    """The first ``count`` events the stream sends (id, type, event)."""
    found: list[tuple[int, str, dict[str, Any]]] = []
    auth = {"Authorization": f"Bearer {platform.token}"} | (headers or {})
    with httpx.stream(
        "GET",
        platform.url("coordinator") + "/stream",
        params=params,
        headers=auth,
        timeout=httpx.Timeout(20.0),
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if line.startswith(": connected") and while_reading is not None:
                threading.Thread(target=while_reading).start()
            elif line == "" and "data" in fields:
                found.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
                fields = {}
                if len(found) == count:
                    break
            elif ":" in line and not line.startswith(":"):
                key, _, value = line.partition(": ")
                fields[key] = value
    return found


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_stream_filters_resumes_and_delivers_live(platform: Platform) -> None:
    village = Org(platform, "community", "东村合作社", "610124104201")
    Org(platform, "ngo", "社工站", COUNTY)  # filtered out by kind
    village.post(
        "/needs", {"category": "training.livestream", "title": "直播培训", "quantity": 30, "unit": "人"}
    )
    village.post("/needs", {"category": "logistics.cold_chain", "title": "冷链", "quantity": 10, "unit": "t"})
    time.sleep(1.5)  # let the relays publish

    replayed = _read(platform, 3, {"kind": "community", "after": 0})
    assert [t for _, t, _ in replayed] == [
        "sifang.organisation.registered.v1",
        "sifang.need.published.v1",
        "sifang.need.published.v1",
    ]
    assert all(e["source"] == f"/sifang/community/{village.id}" for _, _, e in replayed)
    ids = [i for i, _, _ in replayed]
    assert ids == sorted(ids)

    resumed = _read(platform, 2, {"kind": "community"}, headers={"Last-Event-ID": str(ids[0])})
    assert [i for i, _, _ in resumed] == ids[1:]

    typed = _read(platform, 1, {"type": "sifang.need.published.v1", "region": "610124", "after": 0})
    assert typed[0][2]["data"]["title"] == "直播培训"

    def post_live() -> None:
        time.sleep(0.5)
        village.post("/offers", {"category": "venue", "title": "礼堂", "quantity": 40, "unit": "hour"})

    live = _read(
        platform, 1, {"kind": "community", "type": "sifang.offer.published.v1"}, while_reading=post_live
    )
    assert live[0][2]["data"]["title"] == "礼堂"
    bad = httpx.get(
        platform.url("coordinator") + "/stream",
        headers={"Authorization": f"Bearer {platform.token}", "Last-Event-ID": "yesterday"},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "Last-Event-ID"
