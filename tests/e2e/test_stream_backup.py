"""``sifang stream backup`` of a running platform, restored into a fresh nats-server, rebuilds the
coordinator identically (``sifang replay`` against the restored stream); a restore refuses a
stream that already holds messages, and a file that is not a backup."""

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from sifang.platform import LocalNats, Platform, free_port
from tests.e2e.test_cli import sifang


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # the stream is the same on both
def test_a_stream_backup_restored_into_a_fresh_server_replays_identically(
    platform: Platform, tmp_path: Path
) -> None:
    demo = sifang(platform, "demo")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    deadline = time.monotonic() + 60
    admin = {"Authorization": f"Bearer {platform.token}"}
    while not httpx.get(platform.url("coordinator") + "/matches", headers=admin, timeout=10).json():
        assert time.monotonic() < deadline, "the demo produced no matches"
        time.sleep(0.5)
    time.sleep(2)  # the coordinator's last decisions reach the stream
    # stopped, so its record is what it had applied when the backup was taken (running, it would
    # go on to apply its clock's tick for the demo's overdue milestone, which the backup lacks)
    platform.stop_service("coordinator")

    backup = tmp_path / "sifang-stream.jsonl"
    taken = sifang(platform, "stream", "backup", str(backup))
    assert taken.returncode == 0, taken.stdout + taken.stderr
    lines = backup.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["messages"] == len(lines) - 1 > 20
    assert [json.loads(line)["sequence"] for line in lines[1:]] == list(range(1, len(lines)))

    fresh = LocalNats(free_port(), tmp_path / "fresh-store", tmp_path / "fresh.log")
    fresh.start()
    try:
        on_fresh = {"NATS_URL": fresh.url}
        restored = sifang_with(platform, on_fresh, "stream", "restore", str(backup))
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert f"Restored {header['messages']} messages" in restored.stdout

        again = sifang_with(platform, on_fresh, "stream", "restore", str(backup))
        assert again.returncode == 1 and "already holds messages" in again.stdout

        # The live coordinator against a rebuild from the restored stream: the same record.
        replay = sifang_with(platform, on_fresh, "replay", timeout=300)
        assert "The replay is identical" in replay.stdout, replay.stdout + replay.stderr
        assert replay.returncode == 0
    finally:
        fresh.stop()

    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"hello": 1}\n')
    refused = sifang(platform, "stream", "restore", str(junk))
    assert refused.returncode == 1 and "not a Sifang stream backup" in refused.stdout


def sifang_with(
    platform: Platform, env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``sifang`` as in test_cli, with ``env`` laid over the platform's."""
    saved = platform.extra_env
    platform.extra_env = saved | env
    try:
        return sifang(platform, *args, timeout=timeout)
    finally:
        platform.extra_env = saved
