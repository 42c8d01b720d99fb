"""An integrator on NATS directly: subscribe-only credentials from deploy/, and the example program."""

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from shared.messaging.access import ADMIN_USER, deploy_users, password_variable
from shared.messaging.nats import STREAM_NAME, NatsLink, provision_stream
from sifang.platform import _wait_for_port, free_port, nats_server_binary
from tests import factories

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def secured_nats(tmp_path: Path) -> Iterator[int]:
    """A server with deploy/nats/permissions.conf as shipped, its passwords from the environment."""
    port = free_port()
    shutil.copy(ROOT / "deploy/nats/permissions.conf", tmp_path / "permissions.conf")
    (tmp_path / "server.conf").write_text(
        f'listen: 127.0.0.1:{port}\njetstream {{ store_dir: "{tmp_path / "store"}" }}\ninclude ./permissions.conf\n'
    )
    env = os.environ | {password_variable(user.name): f"pw{user.name}" for user in deploy_users()}
    process = subprocess.Popen(
        [nats_server_binary(), "-c", str(tmp_path / "server.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    _wait_for_port(port, 10)
    asyncio.run(provision_stream(f"nats://127.0.0.1:{port}", user=ADMIN_USER, password=f"pw{ADMIN_USER}"))
    yield port
    process.terminate()
    process.wait(10)


async def test_a_subscribe_only_integrator_reads_but_cannot_publish(secured_nats: int) -> None:
    port = secured_nats
    services = NatsLink(f"nats://127.0.0.1:{port}", "community", user="community", password="pwcommunity")
    js = await services.jetstream()
    for subject, envelope in (factories.registered("org-1"), factories.need_published("org-1")):
        await js.publish(subject, envelope.to_json(), headers={"Nats-Msg-Id": envelope.id})

    url = f"nats://reports:pwreports@127.0.0.1:{port}"
    example = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            str(ROOT / "examples/subscribe.py"),
            "--url",
            url,
            "--durable",
            "reports",
            "--subject",
            "sifang.community.>",
            "--limit",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert example.returncode == 0, example.stderr
    assert [line.split()[1] for line in example.stdout.splitlines()] == [
        "sifang.organisation.registered.v1",
        "sifang.need.published.v1",
    ]

    integrator = await nats.connect(url, allow_reconnect=False)
    _, forged = factories.need_published("org-1")
    with pytest.raises((NoRespondersError, NatsTimeoutError, TimeoutError)):
        await integrator.jetstream(timeout=2).publish(
            "sifang.community.610124.need.published", forged.to_json()
        )
    with pytest.raises(
        (NoRespondersError, NatsTimeoutError, TimeoutError)
    ):  # nor take over another's consumer
        await integrator.jetstream(timeout=2).consumer_info(STREAM_NAME, "coordinator")
    await integrator.close()
    assert (await js.stream_info(STREAM_NAME)).state.messages == 2
    await services.close()
