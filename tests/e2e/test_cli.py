"""The `sifang` command line against the running platform, as an operator uses it."""

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from services import SERVICES
from shared.messaging.nats import NatsLink
from sifang.platform import Platform
from tests import factories


def sifang(platform: Platform, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = platform.env | {f"SIFANG_{s.upper()}_URL": platform.url(s) for s in SERVICES} | {"COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "sifang.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _publish(platform: Platform, *events: tuple[str, Any]) -> None:
    async def go() -> None:
        admin = platform.nats_credentials()
        link = NatsLink(platform.nats_url, "test-publisher", user=admin["user"], password=admin["password"])
        js = await link.jetstream()
        for subject, envelope in events:
            body = envelope if isinstance(envelope, bytes) else envelope.to_json()
            await js.publish(subject, body)
        await link.close()

    asyncio.run(go())


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_operator_loads_the_demo_follows_checks_replays_and_redrives(platform: Platform) -> None:
    demo = sifang(platform, "demo")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    keys = json.loads((platform.var_dir / "demo-organisations.json").read_text())
    assert keys["mazhao"]["name"] == "马召镇东村猕猴桃专业合作社" and keys["mazhao"]["api_key"].startswith(
        "sfk_"
    )

    admin = {"Authorization": f"Bearer {platform.token}"}
    deadline = time.monotonic() + 30
    while len(httpx.get(platform.url("coordinator") + "/matches", headers=admin).json()) < 3:
        assert time.monotonic() < deadline, "the demo produced no matches"
        time.sleep(0.2)

    tail = sifang(platform, "events", "tail", "--after", "0", "--limit", "3", "--kind", "community", "--json")
    assert tail.returncode == 0, tail.stderr
    lines = [json.loads(line) for line in tail.stdout.splitlines()]
    assert [e["type"] for e in lines] == ["sifang.organisation.registered.v1"] * 3
    assert all(e["source"].startswith("/sifang/community/") for e in lines)

    doctor = sifang(platform, "doctor")
    assert doctor.returncode == 0, doctor.stdout
    assert "✓ consumer coordinator:" in doctor.stdout and "0 to look at" in doctor.stdout
    assert "✓ coordinator record and stream: processed through sequence" in doctor.stdout

    # A withdrawal arrives before its need: held, and applied once the need is there.
    org = keys["xicun"]["id"]
    need_subject, need = factories.need_published(org)
    withdraw_subject, withdrawal = factories.need_withdrawn(org, need.subject, version=1)
    _publish(platform, (withdraw_subject, withdrawal), ("sifang.community.610124.need.published", b"garbage"))
    deadline = time.monotonic() + 20
    while "not a valid CloudEvent" not in (listing := sifang(platform, "dead-letters", "list")).stdout:
        assert time.monotonic() < deadline, listing.stdout
        time.sleep(0.5)
    held = sifang(platform, "doctor")
    said = " ".join(held.stdout.split())  # as read, whatever the terminal's width
    assert held.returncode == 1 and "held events: 1 waiting" in said, held.stdout
    assert f"withdrawal of need {need.subject} came before its version 1" in said
    assert "dead letters: 1 not re-driven" in said
    letters = httpx.get(platform.url("coordinator") + "/dead-letters", headers=admin).json()
    assert [d["event_id"] for d in letters] == [None]  # the garbage; the early withdrawal is no suspect
    assert sifang(platform, "dead-letters", "redrive", str(letters[0]["id"])).returncode == 1
    _publish(platform, (need_subject, need))
    deadline = time.monotonic() + 20
    while not (
        withdrawn := httpx.get(
            platform.url("coordinator") + "/needs",
            headers=admin,
            params={"status": "withdrawn", "organisation_id": org},
        ).json()
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert [n["id"] for n in withdrawn] == [need.subject]
    assert "held events: 0 waiting" in sifang(platform, "doctor").stdout

    replay = sifang(platform, "replay")
    assert "events processed, 0 failed" in replay.stdout, replay.stdout + replay.stderr
    assert "The replay is identical" in replay.stdout, replay.stdout
    assert replay.returncode == 0
    assert "registry_organisations" in replay.stdout and "book_needs" in replay.stdout
