"""Re-solve points across the running platform (``COORDINATOR_RESOLVE_AT=tick``): the book takes
events at once, proposals follow at the next point, a coordinator killed with SIGKILL in
between loses nothing, and ``sifang replay`` rebuilds the same record."""

import os
import signal
import time
from decimal import Decimal

from tests.e2e.conftest import StartPlatform
from tests.e2e.test_cli import sifang
from tests.e2e.test_matching_scenarios import COUNTY, Org, coordinator_matches, eventually


def test_proposals_follow_at_points_survive_a_kill_and_replay_identically(
    start_platform: StartPlatform,
) -> None:
    platform = start_platform(COORDINATOR_RESOLVE_AT="tick")
    station = Org(platform, "ngo", "马召镇社会工作服务站", COUNTY)
    station.post(
        "/offers",
        {
            "category": "training.livestream",
            "title": "直播带货培训班",
            "quantity": 30,
            "unit": "人",
            "service_area": [COUNTY],
        },
    )
    villages = [
        (Org(platform, "community", f"{name}村委会", region), asked)
        for name, region, asked in (
            ("东村", "610124104201", 15),
            ("西村", "610124104202", 10),
            ("北村", "610124105201", 12),
        )
    ]
    for village, asked in villages:  # three villages ask the course's 30 seats for 37 people
        village.post(
            "/needs",
            {"category": "training.livestream", "title": "村民直播带货培训", "quantity": asked, "unit": "人"},
        )
    os.kill(platform.pid("coordinator"), signal.SIGKILL)  # whatever it was doing: book or point
    time.sleep(0.5)
    platform.start_service("coordinator")
    platform.wait_healthy("coordinator")

    def fair() -> dict[str, Decimal] | None:
        proposed = coordinator_matches(platform, status="proposed")
        received = {m["need_organisation_id"]: Decimal(m["quantity"]) for m in proposed}
        return received if len(received) == 3 else None

    # max-min fair, as when solving at each event: 10 seats each
    assert eventually(fair, timeout=60) == {village.id: Decimal(10) for village, _ in villages}
    replay = sifang(platform, "replay")
    assert "events processed, 0 failed" in replay.stdout, replay.stdout + replay.stderr
    assert "The replay is identical" in replay.stdout, replay.stdout
    assert "dirty_partitions" in replay.stdout
