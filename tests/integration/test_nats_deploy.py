"""The shipped deploy/nats configuration: valid with its secrets in the environment, generated from
the same model as make run's, and a node started from it refuses what the model refuses."""

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from shared.messaging import access
from shared.messaging.access import deploy_users, password_variable
from sifang.platform import _wait_for_port, free_ports, nats_server_binary

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy/nats"


def _secrets() -> dict[str, str]:
    env = {password_variable(user.name): f"pw{user.name.replace('-', '')}" for user in deploy_users()}
    env["SIFANG_NATS_ROUTE_PASSWORD"] = "routepw"
    env["SIFANG_NATS_ROUTES"] = (
        "[" + ", ".join(f"nats-route://sifang-route:routepw@sifang-nats-{i}:6222" for i in (1, 2, 3)) + "]"
    )
    return env


def test_permissions_conf_is_generated_from_the_access_model(capsys: pytest.CaptureFixture[str]) -> None:
    access.main()
    assert capsys.readouterr().out == (DEPLOY / "permissions.conf").read_text(), (
        "regenerate: python -m shared.messaging.access > deploy/nats/permissions.conf"
    )


@pytest.mark.parametrize("node", [1, 2, 3])
def test_each_node_configuration_is_valid_with_its_secrets_from_the_environment(node: int) -> None:
    config = str(DEPLOY / f"nats-{node}.conf")
    checked = subprocess.run(
        [nats_server_binary(), "-t", "-c", config],
        env=os.environ | _secrets(),
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    missing = subprocess.run([nats_server_binary(), "-t", "-c", config], capture_output=True, text=True)
    assert missing.returncode != 0 and "SIFANG_NATS_" in missing.stderr  # no secret, no server
    text = (DEPLOY / f"nats-{node}.conf").read_text()
    assert re.search(r"^http: 127\.0\.0\.1:", text, re.M)  # monitoring on loopback only
    assert '"$' not in (DEPLOY / "permissions.conf").read_text().split("authorization", 1)[1].replace(
        '"$JS.', ""
    )  # no quoted (literal) variable references


@pytest.fixture
def node(tmp_path: Path) -> Iterator[int]:
    """Node 1 as shipped, alone on free loopback ports with a temporary store."""
    client, monitor, route = free_ports(3)
    text = (DEPLOY / "nats-1.conf").read_text()
    text = text.replace("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{client}")
    text = text.replace("http: 127.0.0.1:8222", f"http: 127.0.0.1:{monitor}")
    text = text.replace("listen: 0.0.0.0:6222", f"listen: 127.0.0.1:{route}")
    text = text.replace("/var/lib/sifang-nats", str(tmp_path / "store"))
    (tmp_path / "nats-1.conf").write_text(text)
    shutil.copy(DEPLOY / "permissions.conf", tmp_path / "permissions.conf")
    env = os.environ | _secrets()
    env["SIFANG_NATS_ROUTES"] = f"[nats-route://sifang-route:routepw@127.0.0.1:{route}]"
    process = subprocess.Popen(
        [nats_server_binary(), "-c", str(tmp_path / "nats-1.conf")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for_port(client, 10)
    yield client
    process.terminate()
    process.wait(10)


async def test_a_deployed_node_refuses_anonymous_clients_and_foreign_subjects(node: int) -> None:
    url = f"nats://127.0.0.1:{node}"
    with pytest.raises(Exception, match=r"(?i)authorization"):
        await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0)
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc).lower())

    community = await nats.connect(
        url, user="community", password="pwcommunity", allow_reconnect=False, error_cb=on_error
    )
    await community.publish("sifang.community.610124.need.published", b"{}")
    await community.publish("sifang.government.610124.programme.opened", b"{}")
    await community.publish("$JS.API.STREAM.DELETE.SIFANG", b"")
    await community.flush()
    for _ in range(40):  # the client reports the server's errors from a task of its own
        if len(errors) == 2:
            break
        await asyncio.sleep(0.05)
    assert errors == [
        'nats: permissions violation for publish to "sifang.government.610124.programme.opened"',
        'nats: permissions violation for publish to "$js.api.stream.delete.sifang"',
    ]
    await community.close()
    admin = await nats.connect(url, user="sifang-admin", password="pwsifangadmin", allow_reconnect=False)
    await admin.publish("$JS.API.STREAM.DELETE.SIFANG", b"")  # allowed (JetStream itself may answer no)
    await admin.flush()
    await admin.close()
